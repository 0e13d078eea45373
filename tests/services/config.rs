//! Config documents (§5.7) through the SDK, plus the wire where the SDK
//! cannot reach (non-object bodies).

use ironflow::ErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Server;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Settings {
    theme: String,
    locale: String,
    max_retries: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_get_patch_list_delete() {
    let server = Server::start("config-crud").await;
    let configs = server.client().config();
    assert!(
        configs
            .get::<Value>("app-settings")
            .await
            .unwrap()
            .is_none()
    );

    let settings = Settings {
        theme: "dark".into(),
        locale: "en".into(),
        max_retries: 3,
    };
    assert_eq!(configs.set("app-settings", &settings).await.unwrap(), 1);
    let got = configs
        .get::<Settings>("app-settings")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.name.as_str(), got.revision), ("app-settings", 1));
    assert_eq!(got.data, settings);
    assert!(got.updated_at.is_some());

    // Shallow merge: `locale` replaced, `beta` added then removed by null,
    // nested objects replaced whole, the rest kept.
    configs
        .patch(
            "app-settings",
            &json!({ "beta": true, "nested": { "a": 1, "b": 2 } }),
        )
        .await
        .unwrap();
    let revision = configs
        .patch(
            "app-settings",
            &json!({ "locale": "fr", "beta": null, "nested": { "c": 3 } }),
        )
        .await
        .unwrap();
    assert_eq!(revision, 3);
    let got = configs.get::<Value>("app-settings").await.unwrap().unwrap();
    assert_eq!(
        got.data,
        json!({ "theme": "dark", "locale": "fr", "max_retries": 3, "nested": { "c": 3 } })
    );
    assert_eq!(got.revision, 3);

    // `set` replaces the whole document.
    assert_eq!(
        configs
            .set("app-settings", &json!({ "theme": "light" }))
            .await
            .unwrap(),
        4
    );
    let got = configs.get::<Value>("app-settings").await.unwrap().unwrap();
    assert_eq!(got.data, json!({ "theme": "light" }));

    // Patching a missing config creates it.
    assert_eq!(configs.patch("flags", &json!({ "x": 1 })).await.unwrap(), 1);
    let list = configs.list().await.unwrap();
    let names: Vec<(&str, u64)> = list.iter().map(|c| (c.name.as_str(), c.revision)).collect();
    assert_eq!(names, [("app-settings", 4), ("flags", 1)]);

    configs.delete("app-settings").await.unwrap();
    configs.delete("app-settings").await.unwrap(); // idempotent
    assert!(
        configs
            .get::<Value>("app-settings")
            .await
            .unwrap()
            .is_none()
    );
    let names: Vec<String> = configs
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["flags"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_are_per_environment() {
    let server = Server::start("config-env").await;
    let (alpha, beta) = (
        server.client_in("alpha").config(),
        server.client_in("beta").config(),
    );
    alpha
        .set("shared", &json!({ "who": "alpha" }))
        .await
        .unwrap();
    assert!(beta.get::<Value>("shared").await.unwrap().is_none());
    beta.set("shared", &json!({ "who": "beta" })).await.unwrap();
    beta.set("shared", &json!({ "who": "beta2" }))
        .await
        .unwrap();
    let a = alpha.get::<Value>("shared").await.unwrap().unwrap();
    let b = beta.get::<Value>("shared").await.unwrap().unwrap();
    assert_eq!((a.data["who"].as_str(), a.revision), (Some("alpha"), 1));
    assert_eq!((b.data["who"].as_str(), b.revision), (Some("beta2"), 2));
    alpha.delete("shared").await.unwrap();
    assert!(beta.get::<Value>("shared").await.unwrap().is_some());
    assert!(server.client().config().list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_input_is_refused_with_a_reason() {
    let server = Server::start("config-bad").await;
    let configs = server.client().config();

    let e = configs.set("list", &json!([1, 2])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("JSON object"), "{e}");

    let e = configs.set("bad name", &json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("' '"), "{e}");

    // What another SDK could send: the engine refuses non-objects with the
    // REST envelope.
    let http = reqwest::Client::new();
    for (method, body) in [
        (reqwest::Method::POST, "[1,2]"),
        (reqwest::Method::PATCH, "\"text\""),
        (reqwest::Method::POST, "{not json"),
    ] {
        let response = http
            .request(method, server.url("/api/v1/config/x"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["code"], "INVALID_ARGUMENT");
        assert!(reply["error"].as_str().unwrap().contains("JSON"), "{reply}");
    }
    let reply: Value = http
        .get(server.url("/api/v1/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply, json!({ "configs": [] }));
}
