//! The golden step-id vectors of the official Python SDK
//! (`shared/spec/fixtures/step-ids.json`): escaping, publish idempotency keys,
//! and the ids each vector's operations claim, record and compensate.

use super::*;

#[derive(Debug, Default)]
struct Recorder {
    claimed: Mutex<Vec<String>>,
    published: Mutex<Vec<(String, String)>>,
}

impl StepHooks for Recorder {
    fn run_step(&self, _name: &str, _id: &str) -> Option<Result<Value>> {
        None
    }
    fn claimed(&self, id: &str) {
        self.claimed.lock().unwrap().push(id.to_owned());
    }
    fn resolve_yield(&self, info: &YieldInfo) -> Option<Value> {
        // "yield caught, execution continues as if journaled"
        Some(match info {
            YieldInfo::InvokeFunctionAsync { .. } => json!({"run_id": "child"}),
            _ => Value::Null,
        })
    }
}

#[derive(Debug)]
struct RecordingPublisher(Arc<Recorder>);

impl Publisher for RecordingPublisher {
    fn publish(&self, _topic: &str, _data: Value, key: &str) -> BoxFuture<'static, Result<Value>> {
        let recorder = self.0.clone();
        let key = key.to_owned();
        Box::pin(async move {
            let id = recorder
                .claimed
                .lock()
                .unwrap()
                .last()
                .cloned()
                .unwrap_or_default();
            recorder.published.lock().unwrap().push((id, key));
            Ok(Value::Null)
        })
    }
}

fn interpret(ctx: Ctx, ops: Vec<Value>) -> BoxFuture<'static, Result<()>> {
    Box::pin(async move {
        for op in ops {
            let name = |k: &str| op[k].as_str().unwrap_or_default().to_owned();
            let _ = match op["op"].as_str().unwrap() {
                "run" => ctx
                    .run(name("name"), || async { Ok::<_, Error>(json!("out")) })
                    .await
                    .map(drop),
                "sleep" => ctx.sleep(&name("name"), Duration::from_secs(3600)).await,
                "wait_for_event" => ctx
                    .wait_for_event::<Value>(&name("name"), WaitForEvent::new("x.y"))
                    .await
                    .map(drop),
                "invoke" => ctx
                    .invoke::<Value>(&name("function_id"), json!({}))
                    .await
                    .map(drop),
                "invoke_async" => ctx
                    .invoke_async(&name("function_id"), json!({}))
                    .await
                    .map(drop),
                "publish" => ctx.publish(&name("topic"), json!({"k": 1})).await,
                "compensate" => {
                    ctx.compensate(&name("step_name"), || async { Ok::<_, Error>(()) });
                    Ok(())
                }
                "parallel" | "map" => {
                    let branches: Vec<_> = op["branches"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| {
                            let ops = b.as_array().unwrap().clone();
                            move |s: Ctx| interpret(s, ops)
                        })
                        .collect();
                    ctx.parallel(&name("name"), branches).await.map(drop)
                }
                other => panic!("unknown op {other}"),
            };
        }
        Ok(())
    })
}

fn fixture_body(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let ops: Vec<Value> = serde_json::from_value(ctx.event().data["ops"].clone()).unwrap();
        let compensate = ctx.event().data["fail"].as_bool().unwrap_or(false);
        interpret(ctx, ops).await?;
        if compensate {
            return Err(Error::terminal("trigger compensations"));
        }
        Ok::<_, Error>(Value::Null)
    })
}

/// `shared/spec/fixtures`, found beside the checkout (CI clones the repo next to `shared/`).
pub(crate) fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/spec/fixtures"))
        .find(|dir| dir.is_dir())
        .expect("shared/spec/fixtures beside the checkout")
}

#[tokio::test]
async fn reproduces_every_step_id_vector_of_the_official_sdk() {
    let text = std::fs::read_to_string(fixtures_dir().join("step-ids.json"))
        .expect("shared/spec/fixtures/step-ids.json");
    let file: Value = serde_json::from_str(&text).unwrap();
    for pair in file["escape_step_id_part"].as_array().unwrap() {
        assert_eq!(
            crate::protocol::step_id::escape(pair["input"].as_str().unwrap()),
            pair["escaped"]
        );
    }
    for pair in file["publish_default_idempotency_keys"].as_array().unwrap() {
        assert_eq!(
            crate::protocol::step_id::publish_idempotency_key(pair["step_id"].as_str().unwrap()),
            pair["default_idempotency_key"]
        );
    }
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 44);
    for v in vectors {
        let description = v["description"].as_str().unwrap();
        let run_id = v["run_id"].as_str().unwrap();
        let journal: Vec<JournalEntry> = v["journal"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| done(r["step_id"].as_str().unwrap(), r["output"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut w = wire(run_id, journal);
        let expects_compensation = v.get("compensation_ids_in_execution_order").is_some();
        w.event.data = json!({"ops": v["ops"], "fail": expects_compensation});
        let recorder = Arc::new(Recorder::default());
        let env = env()
            .with_hooks(recorder.clone())
            .with_publisher(Arc::new(RecordingPublisher(recorder.clone())));
        let response = execute(record("f", fixture_body), w, &env).await;

        let mut claimed = recorder.claimed.lock().unwrap().clone();
        let mut expected: Vec<String> =
            serde_json::from_value(v["flat_ids_in_call_order"].clone()).unwrap();
        claimed.sort();
        expected.sort();
        assert_eq!(claimed, expected, "claimed ids: {description}");

        let mut recorded: Vec<String> = response.steps.iter().map(|s| s.id.clone()).collect();
        recorded.sort();
        let expected: Vec<String> =
            serde_json::from_value(v["recorded_step_results"].clone()).unwrap();
        assert_eq!(recorded, expected, "recorded step results: {description}");

        if let Some(order) = v.get("compensation_ids_in_execution_order") {
            let ran: Vec<&str> = response
                .steps
                .iter()
                .filter(|s| s.kind == StepType::Compensate)
                .map(|s| s.id.as_str())
                .collect();
            assert_eq!(json!(ran), *order, "compensation order: {description}");
            let fors: Vec<_> = response
                .steps
                .iter()
                .filter_map(|s| s.compensation_for.clone())
                .collect();
            assert_eq!(
                json!(fors),
                v["compensation_for"],
                "compensation_for: {description}"
            );
        }
        let published = recorder.published.lock().unwrap().clone();
        let expected_keys: Vec<(String, String)> = flatten_publishes(&v["ids"]);
        let mut published_sorted = published.clone();
        published_sorted.sort();
        let mut expected_sorted = expected_keys;
        expected_sorted.sort();
        assert_eq!(
            published_sorted, expected_sorted,
            "publish keys: {description}"
        );
    }
}

fn flatten_publishes(ids: &Value) -> Vec<(String, String)> {
    match ids {
        Value::Array(items) => items.iter().flat_map(flatten_publishes).collect(),
        Value::Object(map) if map.contains_key("idempotency_key_sent") => vec![(
            map["id"].as_str().unwrap().to_owned(),
            map["idempotency_key_sent"].as_str().unwrap().to_owned(),
        )],
        Value::Object(map) => map
            .get("branches")
            .map(flatten_publishes)
            .unwrap_or_default(),
        _ => vec![],
    }
}
