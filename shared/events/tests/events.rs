//! Outbox → relay → bus → inbox, on the in-process bus and SQLite by default and on NATS
//! JetStream and PostgreSQL under `.ci/run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{Bus, EventEnvelope, EventHandler, InProcessBus, NatsBus, NatsOptions, Relay, SubscriptionSpec};
use keel_store::testing::{TestStore, test_nats_url, unique_prefix};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all
    }
}

async fn database(service: &str) -> (TestStore, DatabaseConnection) {
    let store = TestStore::new(service);
    let db = keel_store::connect(&store.options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.execute_unprepared("CREATE TABLE effects (event_id VARCHAR(36) NOT NULL)")
        .await
        .unwrap();
    (store, db)
}

async fn bus() -> Arc<dyn Bus> {
    match test_nats_url() {
        Some(url) => {
            let prefix = unique_prefix();
            let mut options = NatsOptions::new(url);
            options.stream_prefix = prefix.to_uppercase().trim_end_matches('_').to_string();
            options.subject_prefix = prefix.trim_end_matches('_').to_string();
            options.ack_wait = Duration::from_secs(2);
            Arc::new(
                NatsBus::connect(options)
                    .await
                    .expect("NATS reachable at KEEL_TEST_NATS_URL"),
            )
        }
        None => Arc::new(InProcessBus::new()),
    }
}

/// A consumer that applies each event once, recording the effect with the inbox entry.
struct Recorder {
    db: DatabaseConnection,
    deliveries: AtomicUsize,
    fail_first: AtomicUsize,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        if self.fail_first.load(Ordering::SeqCst) > 0 {
            self.fail_first.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Unavailable("consumer database restarting".into()));
        }
        let txn = self.db.begin().await.map_err(keel_store::db_error)?;
        if keel_events::inbox::first_delivery(&txn, "test.recorder", event).await? {
            txn.execute_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                match txn.get_database_backend() {
                    sea_orm::DbBackend::Postgres => "INSERT INTO effects (event_id) VALUES ($1)",
                    _ => "INSERT INTO effects (event_id) VALUES (?)",
                },
                [event.id.to_string().into()],
            ))
            .await
            .map_err(keel_store::db_error)?;
        }
        txn.commit().await.map_err(keel_store::db_error)
    }
}

async fn effects(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM effects",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn eventually(db: &DatabaseConnection, expected: i64) {
    for _ in 0..100 {
        if effects(db).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(effects(db).await, expected, "effects never reached the expected count");
}

fn event() -> EventEnvelope {
    let payload = keel_proto::common::Money {
        amount: "10.00".into(),
        currency: "USD".into(),
    };
    EventEnvelope::new("crm.opportunity.won", "crm", "opp-1", &payload)
}

async fn setup(fail_first: usize) -> (TestStore, DatabaseConnection, TestStore, Arc<Recorder>, Relay) {
    let (producer_store, producer) = database("producer").await;
    let (consumer_store, consumer) = database("consumer").await;
    let bus = bus().await;
    let recorder = Arc::new(Recorder {
        db: consumer.clone(),
        deliveries: AtomicUsize::new(0),
        fail_first: AtomicUsize::new(fail_first),
    });
    bus.subscribe(
        SubscriptionSpec {
            name: "test-recorder".into(),
            event_types: vec!["crm.opportunity.won".into()],
        },
        recorder.clone(),
    )
    .await
    .unwrap();
    let relay = Relay::new("producer", producer.clone(), bus, Duration::from_millis(50));
    (producer_store, producer, consumer_store, recorder, relay)
}

#[tokio::test]
async fn an_event_committed_with_its_change_is_applied_once() {
    let (_p, producer, _c, recorder, relay) = setup(0).await;
    let event = event();
    let txn = producer.begin().await.unwrap();
    keel_events::outbox::enqueue(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();

    relay.relay_pending().await.unwrap();
    eventually(&recorder.db, 1).await;
    assert_eq!(keel_events::outbox::pending_count(&producer).await.unwrap(), 0);
}

#[tokio::test]
async fn an_event_whose_change_rolled_back_is_never_published() {
    let (_p, producer, _c, recorder, relay) = setup(0).await;
    let txn = producer.begin().await.unwrap();
    keel_events::outbox::enqueue(&txn, &event()).await.unwrap();
    txn.rollback().await.unwrap();

    assert_eq!(relay.relay_pending().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(effects(&recorder.db).await, 0);
}

#[tokio::test]
async fn the_same_event_delivered_twice_has_one_effect() {
    let (_p, _producer, _c, recorder, relay) = setup(0).await;
    let event = event();
    // The relay publishes, then an operator replays the same event.
    let bus = relay_bus(&relay);
    bus.publish(&event).await.unwrap();
    bus.republish(&event).await.unwrap();
    eventually(&recorder.db, 1).await;
    for _ in 0..50 {
        if recorder.deliveries.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        recorder.deliveries.load(Ordering::SeqCst),
        2,
        "the replay reached the consumer"
    );
    assert_eq!(effects(&recorder.db).await, 1, "and changed nothing");
}

#[tokio::test]
async fn a_consumer_failure_is_retried_until_applied() {
    let (_p, producer, _c, recorder, relay) = setup(2).await;
    let txn = producer.begin().await.unwrap();
    keel_events::outbox::enqueue(&txn, &event()).await.unwrap();
    txn.commit().await.unwrap();

    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(relay.clone().run(shutdown.clone()));
    eventually(&recorder.db, 1).await;
    assert!(
        recorder.deliveries.load(Ordering::SeqCst) >= 3,
        "two failures then a success"
    );
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(keel_events::outbox::pending_count(&producer).await.unwrap(), 0);
}

fn relay_bus(relay: &Relay) -> Arc<dyn Bus> {
    relay.bus()
}

async fn outbox_ids(db: &DatabaseConnection) -> Vec<String> {
    let mut ids: Vec<String> = keel_events::outbox::recent(db, None, 5000)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    ids.sort();
    ids
}

async fn set_old(db: &DatabaseConnection, column: &str, id: &str) {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("UPDATE outbox SET {column} = '2020-01-01T00:00:00Z' WHERE id = $1"),
        _ => format!("UPDATE outbox SET {column} = '2020-01-01T00:00:00Z' WHERE id = ?"),
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [id.to_string().into()],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn published_events_past_the_retention_are_pruned_and_waiting_ones_never() {
    let (_p, producer, _c, _recorder, relay) = setup(0).await;
    let (old, recent, waiting) = (event(), event(), event());
    for e in [&old, &recent] {
        keel_events::outbox::enqueue(&producer, e).await.unwrap();
    }
    assert_eq!(relay.relay_pending().await.unwrap(), 2);
    keel_events::outbox::enqueue(&producer, &waiting).await.unwrap();
    // Published long ago; and a waiting event that happened long ago (the bus was down).
    set_old(&producer, "published_at", &old.id.to_string()).await;
    set_old(&producer, "occurred_at", &waiting.id.to_string()).await;

    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let pruned = keel_events::outbox::prune_published(&producer, month_ago)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let mut kept = vec![recent.id.to_string(), waiting.id.to_string()];
    kept.sort();
    assert_eq!(outbox_ids(&producer).await, kept);

    // Everything published is past a cutoff in the future; the waiting event still stays.
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(keel_events::outbox::prune_published(&producer, later).await.unwrap(), 1);
    assert_eq!(outbox_ids(&producer).await, [waiting.id.to_string()]);
    assert_eq!(keel_events::outbox::pending_count(&producer).await.unwrap(), 1);
}

#[tokio::test]
async fn a_long_published_backlog_is_pruned_in_short_deletes_to_the_last_event() {
    let (_p, producer, _c, _recorder, _relay) = setup(0).await;
    let count = keel_events::outbox::PRUNE_BATCH as usize * 2 + 5;
    let txn = producer.begin().await.unwrap();
    for _ in 0..count {
        keel_events::outbox::enqueue(&txn, &event()).await.unwrap();
    }
    txn.commit().await.unwrap();
    producer
        .execute_unprepared("UPDATE outbox SET published_at = '2020-01-01T00:00:00Z'")
        .await
        .unwrap();
    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let pruned = keel_events::outbox::prune_published(&producer, month_ago)
        .await
        .unwrap();
    assert_eq!(pruned, count as u64);
    assert!(outbox_ids(&producer).await.is_empty());
}

async fn inbox_ids(db: &DatabaseConnection) -> Vec<String> {
    use sea_orm::EntityTrait;
    let mut ids: Vec<String> = keel_events::inbox::entity::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.event_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn applied_event_ids_past_the_retention_are_forgotten_and_recent_ones_still_stop_a_replay() {
    let (_p, _producer, _c, recorder, relay) = setup(0).await;
    let bus = relay_bus(&relay);
    let (old, recent) = (event(), event());
    bus.publish(&old).await.unwrap();
    bus.publish(&recent).await.unwrap();
    eventually(&recorder.db, 2).await;
    let consumer = &recorder.db;
    let sql = match consumer.get_database_backend() {
        sea_orm::DbBackend::Postgres => "UPDATE inbox SET applied_at = '2020-01-01T00:00:00Z' WHERE event_id = $1",
        _ => "UPDATE inbox SET applied_at = '2020-01-01T00:00:00Z' WHERE event_id = ?",
    };
    consumer
        .execute_raw(Statement::from_sql_and_values(
            consumer.get_database_backend(),
            sql,
            [old.id.to_string().into()],
        ))
        .await
        .unwrap();

    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let pruned = keel_events::inbox::prune_applied(consumer, month_ago).await.unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(inbox_ids(consumer).await, [recent.id.to_string()]);

    // The recent event is still remembered: an operator's replay of it changes nothing.
    bus.republish(&recent).await.unwrap();
    for _ in 0..50 {
        if recorder.deliveries.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        recorder.deliveries.load(Ordering::SeqCst),
        3,
        "the replay reached the consumer"
    );
    assert_eq!(effects(consumer).await, 2, "and changed nothing");
}

#[tokio::test]
async fn a_long_inbox_is_pruned_in_short_deletes_to_the_last_entry() {
    let (_p, _producer, _c, recorder, _relay) = setup(0).await;
    let consumer = &recorder.db;
    let count = keel_events::inbox::PRUNE_BATCH as usize * 2 + 5;
    let txn = consumer.begin().await.unwrap();
    for _ in 0..count {
        assert!(
            keel_events::inbox::first_delivery(&txn, "test.recorder", &event())
                .await
                .unwrap()
        );
    }
    txn.commit().await.unwrap();
    // Applied a minute apart, years ago; and one just now.
    let spread = match consumer.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "UPDATE inbox SET applied_at = TIMESTAMPTZ '2020-01-01 00:00:00+00' + aged.n * INTERVAL '1 minute' \
             FROM (SELECT event_id, row_number() OVER (ORDER BY event_id) AS n FROM inbox) AS aged \
             WHERE inbox.event_id = aged.event_id"
        }
        _ => "UPDATE inbox SET applied_at = strftime('%Y-%m-%dT%H:%M:%SZ', '2020-01-01', '+' || rowid || ' minutes')",
    };
    consumer.execute_unprepared(spread).await.unwrap();
    let kept = event();
    assert!(
        keel_events::inbox::first_delivery(consumer, "test.recorder", &kept)
            .await
            .unwrap()
    );

    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let pruned = keel_events::inbox::prune_applied(consumer, month_ago).await.unwrap();
    assert_eq!(pruned, count as u64);
    assert_eq!(inbox_ids(consumer).await, [kept.id.to_string()]);
}

#[tokio::test]
async fn a_stream_keeps_messages_as_long_as_the_outbox_keeps_events_even_one_made_before() {
    // JetStream only: the in-process bus keeps nothing.
    let Some(url) = test_nats_url() else {
        return;
    };
    let prefix = unique_prefix();
    let stream_prefix = prefix.to_uppercase().trim_end_matches('_').to_string();
    let subject_prefix = prefix.trim_end_matches('_').to_string();
    let stream_name = format!("{stream_prefix}_CRM");
    let jetstream = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
    // A stream an earlier Keel made, which kept messages forever.
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![format!("{subject_prefix}.crm.>")],
            ..Default::default()
        })
        .await
        .unwrap();

    let mut options = NatsOptions::new(url);
    options.stream_prefix = stream_prefix;
    options.subject_prefix = subject_prefix;
    options.max_age = Duration::from_secs(7 * 24 * 3600);
    let bus = NatsBus::connect(options).await.unwrap();
    bus.publish(&event()).await.unwrap();
    bus.publish(&event()).await.unwrap();

    let mut stream = jetstream.get_stream(&stream_name).await.unwrap();
    let info = stream.info().await.unwrap().clone();
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(info.state.messages, 2, "both events are in the stream");

    // An operator deletes the stream: the publish that finds it gone fails (the relay keeps the
    // event and tries again), and the next one makes the stream anew.
    jetstream.delete_stream(&stream_name).await.unwrap();
    assert!(bus.publish(&event()).await.is_err());
    bus.publish(&event()).await.unwrap();
    let mut stream = jetstream.get_stream(&stream_name).await.unwrap();
    let info = stream.info().await.unwrap().clone();
    jetstream.delete_stream(&stream_name).await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(info.state.messages, 1);
}
