//! Cron triggers: each scheduled function fires at the next occurrence of
//! its pattern (UTC). A firing is an event with the idempotency key
//! `cron:<function>:<trigger>:<time>`, so an occurrence fires once even when
//! several engines share a database or one restarts mid-firing. Occurrences
//! missed while no engine ran are not replayed: the schedule resumes at the
//! next one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::CronParser;
use serde_json::json;

use super::Scheduler;
use super::function::FunctionDef;
use crate::now_ms;

/// One cron trigger of one function.
#[derive(Debug, Clone)]
struct Schedule {
    function: String,
    index: usize,
    event: String,
    cron: Cron,
}

fn schedules(defs: &[FunctionDef]) -> Vec<Schedule> {
    let parser = CronParser::new();
    let mut out = Vec::new();
    for def in defs {
        for (index, trigger) in def.triggers.iter().enumerate() {
            let Some(pattern) = &trigger.cron else {
                continue;
            };
            match parser.parse(pattern) {
                Ok(cron) => out.push(Schedule {
                    function: def.id.clone(),
                    index,
                    event: trigger
                        .event
                        .clone()
                        .unwrap_or_else(|| format!("cron/{}", def.id)),
                    cron,
                }),
                Err(e) => {
                    tracing::warn!(function = %def.id, pattern, error = %e, "skipping an invalid cron trigger")
                }
            }
        }
    }
    out
}

/// The next occurrence strictly after `after_ms`, in ms since the epoch.
fn next_after(cron: &Cron, after_ms: i64) -> Option<i64> {
    let after: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Fires the cron triggers of the scheduler's functions until it stops.
pub(crate) async fn run(scheduler: Arc<Scheduler>) {
    let mut last_fired = now_ms();
    while !scheduler.stopped.load(Ordering::SeqCst) {
        let changed = scheduler.functions_changed.notified();
        let all = schedules(&scheduler.defs());
        let next = all
            .iter()
            .filter_map(|s| next_after(&s.cron, last_fired).map(|t| (t, s)))
            .min_by_key(|(t, _)| *t);
        let Some((at, _)) = next else {
            // Nothing scheduled: wait for a registration (or a stop).
            let _ = tokio::time::timeout(Duration::from_secs(5), changed).await;
            continue;
        };
        let wait = Duration::from_millis((at - now_ms()).max(0) as u64);
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = changed => continue,
            }
        }
        for schedule in all
            .iter()
            .filter(|s| next_after(&s.cron, last_fired) == Some(at))
        {
            let key = format!("cron:{}:{}:{at}", schedule.function, schedule.index);
            let data = json!({ "scheduled_at": ironflow::protocol::format_timestamp(std::time::UNIX_EPOCH + Duration::from_millis(at as u64)) });
            if let Err(e) = scheduler
                .fire(&schedule.function, &schedule.event, data, key)
                .await
            {
                tracing::error!(function = %schedule.function, error = %e, "cron firing failed");
            }
        }
        last_fired = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_occurrences_are_strictly_later() {
        let cron = CronParser::new().parse("*/5 * * * *").unwrap();
        // 2026-01-01T00:00:00Z
        let t0 = 1_767_225_600_000;
        assert_eq!(next_after(&cron, t0), Some(t0 + 300_000));
        assert_eq!(next_after(&cron, t0 + 1), Some(t0 + 300_000));
        let every_second = CronParser::new().parse("* * * * * *").unwrap();
        assert_eq!(next_after(&every_second, t0), Some(t0 + 1_000));
    }
}
