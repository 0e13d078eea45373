//! `X`/`XValue` pairs as the engine writes them (connect-rpc.md §1.7): an
//! object in `X`, any other JSON in `XValue`; read back as one value (a
//! run's output, an event's data, a projection's state).

use serde::Deserialize;
use serde_json::Value;

/// An `X`/`XValue` pair read as one value: `XValue` when present and not
/// null, else `X`.
pub(super) fn pair(object: Option<Value>, value: Option<Value>) -> Option<Value> {
    value.filter(|v| !v.is_null()).or(object)
}

/// A reply's result as an `output`/`outputValue` pair (connect-rpc.md
/// §1.7): `outputValue` when present and not null, else `output`. Reads the
/// keys the other fields of the reply left (the field is flattened).
pub(super) fn output_of<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Value>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Pair {
        #[serde(default)]
        output: Option<Value>,
        #[serde(default)]
        output_value: Option<Value>,
    }
    let reply = Pair::deserialize(d)?;
    Ok(pair(reply.output, reply.output_value))
}

#[cfg(test)]
mod tests {
    use super::super::runs::Run;
    use super::*;

    #[test]
    fn a_run_reads_its_output_from_output_value_or_output() {
        let run = |reply: Value| serde_json::from_value::<Run>(reply).unwrap().output;
        let base = |extra: Value| {
            let mut v = serde_json::json!({ "id": "r", "status": "RUN_STATUS_COMPLETED" });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        // What the platform writes for a non-object result.
        assert_eq!(
            run(base(serde_json::json!({ "outputValue": [1, 2] }))),
            Some(serde_json::json!([1, 2]))
        );
        assert_eq!(
            run(base(serde_json::json!({ "output": { "ok": true } }))),
            Some(serde_json::json!({ "ok": true }))
        );
        // Both: the value wins; neither: none.
        assert_eq!(
            run(base(serde_json::json!({ "output": {}, "outputValue": 7 }))),
            Some(serde_json::json!(7))
        );
        assert_eq!(run(base(serde_json::json!({}))), None);
        // The other fields still read.
        let full: Run = serde_json::from_value(base(serde_json::json!({
            "functionId": "f", "attempt": 2, "outputValue": "done"
        })))
        .unwrap();
        assert_eq!((full.function_id.as_str(), full.attempt), ("f", 2));
        assert_eq!(full.output, Some(serde_json::json!("done")));
    }
}
