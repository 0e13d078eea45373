//! Event triggers: event names, optionally filtered by a CEL expression over
//! the event (`event.data.priority > 5`).

use ironflow::protocol::EventEnvelope;

use super::function::FunctionDef;
use crate::EngineError;

struct Compiled {
    function: String,
    event: String,
    filter: Option<cel::Program>,
}

/// Every event trigger of the registry, with its expression compiled once.
pub(crate) struct Triggers(Vec<Compiled>);

impl Triggers {
    pub(crate) fn compile<'a>(
        functions: impl IntoIterator<Item = &'a FunctionDef>,
    ) -> Result<Self, EngineError> {
        let mut compiled = Vec::new();
        for function in functions {
            for trigger in &function.triggers {
                let Some(event) = &trigger.event else {
                    continue;
                };
                let filter = trigger
                    .expression
                    .as_deref()
                    .map(|expression| {
                        cel::Program::compile(expression).map_err(|e| EngineError::Expression {
                            function: function.id.clone(),
                            expression: expression.to_owned(),
                            message: e.to_string(),
                        })
                    })
                    .transpose()?;
                compiled.push(Compiled {
                    function: function.id.clone(),
                    event: event.clone(),
                    filter,
                });
            }
        }
        Ok(Triggers(compiled))
    }

    /// Ids of the functions triggered by `event`, each once.
    pub(crate) fn matching(&self, event: &EventEnvelope) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.0 {
            if !event_matches(&t.event, &event.name) || out.contains(&t.function) {
                continue;
            }
            let passes = match &t.filter {
                None => true,
                Some(program) => evaluate(program, event).unwrap_or_else(|e| {
                    tracing::warn!(function = %t.function, error = %e, "trigger expression failed; not triggering");
                    false
                }),
            };
            if passes {
                out.push(t.function.clone());
            }
        }
        out
    }
}

/// Event name patterns: exact, or `*` for one dot-separated token and `>`
/// for the rest (`order.*`, `order.>`).
fn event_matches(pattern: &str, name: &str) -> bool {
    let mut p = pattern.split('.');
    let mut n = name.split('.');
    loop {
        match (p.next(), n.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn evaluate(program: &cel::Program, event: &EventEnvelope) -> Result<bool, String> {
    let value = cel::to_value(event).map_err(|e| e.to_string())?;
    let mut context = cel::Context::default();
    context.add_variable_from_value("event", value);
    match program.execute(&context).map_err(|e| e.to_string())? {
        cel::Value::Bool(b) => Ok(b),
        other => Err(format!("expression gave {other:?}, not a bool")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(event_matches("order.placed", "order.placed"));
        assert!(event_matches("order.*", "order.placed"));
        assert!(!event_matches("order.*", "order.placed.eu"));
        assert!(event_matches("order.>", "order.placed.eu"));
        assert!(!event_matches("order.placed", "order.shipped"));
    }

    #[test]
    fn cel_filters_see_the_event() {
        let program =
            cel::Program::compile("event.data.priority > 5 && event.name == 'order.retry'")
                .unwrap();
        let mut event = EventEnvelope {
            id: "e".into(),
            name: "order.retry".into(),
            data: serde_json::json!({"priority": 7}),
            timestamp: String::new(),
            version: Some(1),
            idempotency_key: None,
            source: None,
            metadata: None,
        };
        assert_eq!(evaluate(&program, &event), Ok(true));
        event.data = serde_json::json!({"priority": 2});
        assert_eq!(evaluate(&program, &event), Ok(false));
    }
}
