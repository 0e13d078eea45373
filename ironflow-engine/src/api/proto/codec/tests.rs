use std::io::Read;

use base64::Engine as _;
use serde_json::json;

use super::super::schema::method;
use super::*;

/// `shared/spec/fixtures/connect/`, found beside the checkout.
fn fixture(name: &str) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/fixtures/connect"))
        .find(|d| d.is_dir())
        .expect("shared/spec/fixtures/connect beside the checkout");
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

/// Equal as JSON, numbers compared as the doubles protobuf holds
/// (`4200` and `4200.0` are one value).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn unbase64(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_str().unwrap())
        .unwrap()
}

#[test]
fn the_python_clients_recorded_requests_decode_to_their_protojson() {
    for name in [
        "01-emit.json",
        "02-trigger-minimal.json",
        "03-getrun.json",
        "04-getrun-no-key-no-timeout.json",
    ] {
        let f = fixture(name);
        let request = &f["request"];
        let (input, _) = method(request["path"].as_str().unwrap()).unwrap();
        // As sent: gzipped, even when tiny.
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(unbase64(&request["body_base64"]).as_slice())
            .read_to_end(&mut body)
            .unwrap();
        assert_eq!(body, unbase64(&request["body_gunzipped_base64"]), "{name}");
        let decoded = decode(&body, input).unwrap();
        let expected = &request["decoded_protojson"];
        assert!(same(&decoded, expected), "{name}: {decoded} vs {expected}");
        // And back: the same message (Struct entries may come in any order).
        let again = encode(&decoded, input).unwrap();
        assert_eq!(decode(&again, input).unwrap(), decoded, "{name}");
    }
}

#[test]
fn the_recorded_replies_decode_to_what_the_sdk_read() {
    for name in ["01-emit.json", "03-getrun.json"] {
        let f = fixture(name);
        let (_, output) = method(f["request"]["path"].as_str().unwrap()).unwrap();
        let response = &f["response"];
        let decoded = decode(&unbase64(&response["body_base64"]), output).unwrap();
        let expected = response
            .get("decoded_protojson")
            .or_else(|| response.get("protojson"))
            .unwrap_or_else(|| panic!("{name}: no protojson in {response}"));
        assert!(same(&decoded, expected), "{name}: {decoded} vs {expected}");
        let again = encode(&decoded, output).unwrap();
        assert_eq!(decode(&again, output).unwrap(), decoded, "{name}");
    }
}

#[test]
fn json_forms_go_both_ways() {
    let (_, run) = method("/ironflow.v1.IronflowService/GetRun").unwrap();
    let value = json!({
        "id": "r", "status": "RUN_STATUS_COMPLETED", "attempt": 2,
        "output": {"total": 6.5, "items": [1, "x", null]},
        "outputValue": [1, 2],
        "createdAt": "2026-01-02T03:04:05.678Z",
        "error": {"message": "m", "code": "C", "retryable": true},
    });
    let bytes = encode(&value, run).unwrap();
    assert_eq!(decode(&bytes, run).unwrap(), value);
    // snake_case names and numbers for enums and int64 are read too.
    let snake = json!({"id": "r", "function_id": "f", "status": 3, "max_attempts": "4"});
    let back = decode(&encode(&snake, run).unwrap(), run).unwrap();
    assert_eq!(
        back,
        json!({"id": "r", "functionId": "f", "status": "RUN_STATUS_COMPLETED", "maxAttempts": 4})
    );
    // The engine's JSON words for enum values (`completed`) are read too.
    let word = decode(&encode(&json!({"status": "completed"}), run).unwrap(), run).unwrap();
    assert_eq!(word, json!({"status": "RUN_STATUS_COMPLETED"}));
    // Any JSON in `output` goes out as `outputValue` when it is not an object.
    let scalar = decode(&encode(&json!({"output": 9}), run).unwrap(), run).unwrap();
    assert_eq!(scalar, json!({"outputValue": 9}));
    // Defaults are left out, as proto3 writes them.
    assert!(
        encode(&json!({"id": "", "attempt": 0}), run)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn int64_repeated_and_map_fields_use_their_wire_forms() {
    let (input, output) = method("/ironflow.v1.EntityStreamService/AppendEvent").unwrap();
    let reply = json!({"entityVersion": "9007199254740993", "eventId": "e"});
    assert_eq!(
        decode(&encode(&reply, output).unwrap(), output).unwrap(),
        reply
    );
    let _ = input;
    let (_, listed) = method("/ironflow.v1.IronflowService/Trigger").unwrap();
    let ids = json!({"runIds": ["a", "b"], "eventId": "e"});
    assert_eq!(decode(&encode(&ids, listed).unwrap(), listed).unwrap(), ids);
}

#[test]
fn bad_input_names_the_field_and_what_is_accepted() {
    let (_, run) = method("/ironflow.v1.IronflowService/GetRun").unwrap();
    let e = encode(&json!({"status": "DONE"}), run).unwrap_err();
    assert!(e.contains("Run.status: unknown enum value \"DONE\""), "{e}");
    assert!(e.contains("RUN_STATUS_COMPLETED"), "{e}");
    let e = encode(&json!({"attempt": "two"}), run).unwrap_err();
    assert!(e.contains("Run.attempt: \"two\" is not an integer"), "{e}");
    let e = encode(&json!({"createdAt": "noon"}), run).unwrap_err();
    assert!(e.contains("Run.createdAt: "), "{e}");
    // A length running past the end, a string that is not UTF-8.
    let e = decode(&[0x0a, 0x05, b'a'], run).unwrap_err();
    assert!(
        e.contains("Run.id: a length of 5 runs past the message"),
        "{e}"
    );
    let e = decode(&[0x0a, 0x01, 0xff], run).unwrap_err();
    assert!(e.contains("Run.id: a string is not UTF-8"), "{e}");
    // A field of another wire type than its schema's.
    let e = decode(&[0x08, 0x01], run).unwrap_err();
    assert!(e.contains("Run.id: wire type Varint"), "{e}");
}

#[test]
fn durations_print_and_parse_as_proto3_json_says() {
    assert_eq!(duration_text(30, 0), "30s");
    assert_eq!(duration_text(1, 500_000_000), "1.5s");
    assert_eq!(duration_text(0, -1_000), "-0.000001s");
    assert_eq!(parse_duration(&json!("1.5s")).unwrap(), (1, 500_000_000));
    assert_eq!(parse_duration(&json!("-2s")).unwrap(), (-2, 0));
    assert!(parse_duration(&json!("1.5")).is_err());
}
