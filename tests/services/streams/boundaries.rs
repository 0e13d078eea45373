//! Entity streams' boundaries: Connect replies in the wire shapes,
//! environments kept apart, and bad input answered 400 naming the field.

use super::*;

#[tokio::test]
async fn replies_follow_the_wire_shapes() {
    let server = TestServer::start("streams-wire", Registry::new()).await;
    // snake_case request fields, as some official SDKs send them.
    let (status, reply) = connect(
        &server.base,
        "AppendEvent",
        json!({ "entity_id": "o", "event_name": "created", "data": {}, "expected_version": "-1" }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["entityVersion"], "1");
    assert!(reply["sequence"].is_string(), "{reply}");
    assert!(reply["eventId"].is_string(), "{reply}");
    let (_, reply) = connect(
        &server.base,
        "ReadStream",
        json!({ "entityId": "o", "limit": 0 }),
    )
    .await;
    assert_eq!(reply["totalCount"], 1);
    assert_eq!(reply["events"][0]["entityVersion"], "1");
    assert_eq!(reply["events"][0]["name"], "created");
    let (_, info) = connect(&server.base, "GetStreamInfo", json!({ "entityId": "o" })).await;
    assert_eq!(
        (&info["version"], &info["eventCount"]),
        (&json!("1"), &json!("1"))
    );
    let listed: Value = reqwest::get(format!("{}/api/v1/streams", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["streams"][0]["entityId"], "o");
    let (_, listed) = connect(
        &server.base,
        "ListStreams",
        json!({ "entity_type": "", "limit": 10 }),
    )
    .await;
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(listed["streams"][0]["version"], "1");
    let history: Value = reqwest::get(format!("{}/api/v1/streams/o/history", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["events"][0]["entityVersion"], "1");
}

#[tokio::test]
async fn environments_are_isolated() {
    let server = TestServer::start("streams-env", Registry::new()).await;
    let (alpha, beta) = (server.client_in("alpha"), server.client_in("beta"));
    alpha
        .streams()
        .append("shared-id", event("a.happened", json!({})))
        .await
        .unwrap();
    alpha
        .streams()
        .append("shared-id", event("a.happened", json!({})))
        .idempotency_key("k")
        .await
        .unwrap();
    assert_eq!(beta.streams().info("shared-id").await.unwrap(), None);
    assert!(beta.streams().read("shared-id").await.unwrap().is_empty());
    assert!(beta.streams().list().await.unwrap().is_empty());
    assert_eq!(
        server.client().streams().info("shared-id").await.unwrap(),
        None
    );
    // Same id, same key, other environment: a new stream, a new append.
    let b = beta
        .streams()
        .append("shared-id", event("b.happened", json!({})))
        .idempotency_key("k")
        .await
        .unwrap();
    assert_eq!((b.entity_version, b.duplicate), (1, false));
    let a = alpha.streams().info("shared-id").await.unwrap().unwrap();
    assert_eq!(a.version, 2);
    let names: Vec<String> = beta
        .streams()
        .read("shared-id")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["b.happened"]);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let server = TestServer::start("streams-invalid", Registry::new()).await;
    let cases = [
        (
            "AppendEvent",
            json!({ "entityId": "", "eventName": "x" }),
            "entityId",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": " " }),
            "eventName",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "data": [1] }),
            "data",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "expectedVersion": -2 }),
            "expectedVersion",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "expectedVersion": "two" }),
            "expectedVersion",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "metadata": "m" }),
            "metadata",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "version": -1 }),
            "version",
        ),
        ("ReadStream", json!({ "entityId": "" }), "entityId"),
        (
            "ReadStream",
            json!({ "entityId": "o", "limit": -1 }),
            "limit",
        ),
        (
            "ReadStream",
            json!({ "entityId": "o", "fromVersion": "-3" }),
            "fromVersion",
        ),
        (
            "ReadStream",
            json!({ "entityId": "o", "direction": "sideways" }),
            "direction",
        ),
        ("GetStreamInfo", json!({}), "entityId"),
    ];
    for (method, body, field) in cases {
        let (status, reply) = connect(&server.base, method, body.clone()).await;
        assert_eq!(status, 400, "{method} {body}: {reply}");
        assert_eq!(reply["code"], "invalid_argument", "{reply}");
        let message = reply["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{method} {body}: {message:?} does not name {field}"
        );
    }
    // Through the SDK: a validation error, nothing appended.
    let client = server.client();
    let e = client
        .streams()
        .append("o", AppendEvent::new("", json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("eventName"), "{e}");
    let e = client.streams().read("").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(client.streams().list().await.unwrap().is_empty());
    // REST: the REST envelope, naming the parameter.
    let response = reqwest::get(format!("{}/api/v1/streams/o/history?limit=-5", server.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}
