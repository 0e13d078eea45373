//! Consumer groups: members split a stream, a nak redelivers after its delay
//! and a term stops redelivery, unacked deliveries come back.

use super::*;

#[tokio::test]
async fn group_members_split_a_stream() {
    let server = Server::start("subs-group").await;
    let a = subscriber(&server.base, None).await;
    let b = subscriber(&server.base, None).await;
    let mut sub_a = a
        .subscribe("events:job.*")
        .consumer_group("workers")
        .await
        .unwrap();
    let mut sub_b = b
        .subscribe("events:job.*")
        .consumer_group("workers")
        .await
        .unwrap();
    for i in 1..=20 {
        emit(&server.engine, "job.created", i).await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() + got_b.len() < 20 {
        tokio::select! {
            m = next(&mut sub_a) => got_a.push(n(&m)),
            m = next(&mut sub_b) => got_b.push(n(&m)),
        }
    }
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members get work: {got_a:?} {got_b:?}"
    );
    let all: BTreeSet<u64> = got_a.iter().chain(&got_b).copied().collect();
    assert_eq!(
        all.len(),
        20,
        "each message exactly once: {got_a:?} {got_b:?}"
    );
    assert_eq!(all, (1..=20).collect());
    let state = server
        .engine
        .broker()
        .group_state("default", "workers", "events:job.*")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.ack_mode, "auto");
}

#[tokio::test]
async fn nak_redelivers_after_the_delay_and_term_stops_redelivery() {
    let server = Server::start("subs-nak").await;
    let subscriber = subscriber(&server.base, None).await;
    let mut sub = subscriber
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .await
        .unwrap();
    emit(&server.engine, "task", 1).await;
    let first = next(&mut sub).await;
    let id = first.event_id().unwrap().to_owned();
    let naked = std::time::Instant::now();
    first.nak(Duration::from_millis(300)).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(
        again.event_id(),
        Some(id.as_str()),
        "the nak'd message comes back"
    );
    assert!(
        naked.elapsed() >= Duration::from_millis(300),
        "not before the delay"
    );
    again.term().await.unwrap();
    // Terminated: nothing pending, and the next delivery is the next message.
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "g", "events:task")
            .await
            .unwrap()
            .unwrap();
        s.pending == 0
    })
    .await;
    emit(&server.engine, "task", 2).await;
    let second = next(&mut sub).await;
    assert_eq!(n(&second), 2);
    second.ack().await.unwrap();
}

#[tokio::test]
async fn unacked_deliveries_are_redelivered() {
    let server = Server::start("subs-unacked").await;
    let subscriber = subscriber(&server.base, None).await;
    let mut sub = subscriber
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .ack_timeout(Duration::from_millis(300))
        .await
        .unwrap();
    emit(&server.engine, "task", 1).await;
    let first = next(&mut sub).await;
    // Not acked: it comes back after the ack timeout.
    let again = next(&mut sub).await;
    assert_eq!(again.event_id(), first.event_id());
    again.ack().await.unwrap();
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "g", "events:task")
            .await
            .unwrap()
            .unwrap();
        s.pending == 0
    })
    .await;
    // A member that leaves hands its unacked deliveries to the others.
    let other = subscriber_in_group(&server.base).await;
    let mut other_sub = other;
    emit(&server.engine, "task", 2).await;
    let mut got = None;
    tokio::select! {
        m = next(&mut sub) => { got = Some((1, n(&m))); drop(sub); }
        m = next(&mut other_sub.1) => { m.ack().await.unwrap(); }
    }
    if let Some((_, value)) = got {
        // The first member dropped it unacked: the second gets it at once.
        let m = next(&mut other_sub.1).await;
        assert_eq!(n(&m), value);
        m.ack().await.unwrap();
    }
}

async fn subscriber_in_group(base: &str) -> (Subscriber, Subscription) {
    let s = subscriber(base, None).await;
    let sub = s
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .ack_timeout(Duration::from_secs(600))
        .await
        .unwrap();
    (s, sub)
}
