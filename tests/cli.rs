//! The operator's commands, run as a user would: bad configuration stops the start with the
//! key named, `keel migrate` prepares every store, `keel schema` prints the GraphQL SDL, and
//! `keel seed` names what it could not reach.

mod common;

use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use keel_store::testing::{TempDir, unique_prefix};

/// Waits for the child to exit; kills it and gives `None` if it is still running at `timeout`.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_bad_configuration_value_stops_the_start_naming_the_key() {
    let data_dir = TempDir::new();
    let table = [
        ("KEEL__SERVER__GRPC_ADDR", "localhost-50051", "server.grpc_addr"),
        ("KEEL__DATABASE__URL", "mysql://somewhere/keel", "database.url"),
        ("KEEL__LIMITS__HTTP_MAX_BODY_BYTES", "0", "limits.http_max_body_bytes"),
    ];
    for (variable, value, key) in table {
        let mut child = common::keel_command(data_dir.path(), &unique_prefix())
            // Free ports for whatever is not under test; a flag would override the variable.
            .env("KEEL__SERVER__HTTP_ADDR", "127.0.0.1:0")
            .env_remove("KEEL__SERVER__GRPC_ADDR")
            .env(variable, value)
            .arg("up")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_or_kill(&mut child, Duration::from_secs(20));
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(
            matches!(status, Some(s) if !s.success()),
            "{variable}={value} started anyway"
        );
        assert!(stderr.contains(key), "{variable}={value}: {stderr}");
    }
}

#[test]
fn an_unknown_key_in_the_file_is_an_error_naming_it() {
    let data_dir = TempDir::new();
    let file = data_dir.path().join("keel.toml");
    std::fs::write(&file, "[server]\ngrpc_adress = \"127.0.0.1:50051\"\n").unwrap();
    let output = common::keel_command(data_dir.path(), &unique_prefix())
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("grpc_adress"), "{stderr}");
    assert!(stderr.contains("keel.toml"), "{stderr}");
}

#[test]
fn migrate_prepares_every_store_and_is_repeatable() {
    let data_dir = TempDir::new();
    let prefix = unique_prefix();
    for _ in 0..2 {
        let output = common::keel_command(data_dir.path(), &prefix)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        for service in ["crm", "psa", "erp", "project-setup"] {
            assert!(stdout.contains(&format!("migrated {service} ")), "{stdout}");
        }
    }
    if keel_store::testing::test_database_url().is_none() {
        assert!(data_dir.path().join("crm.db").exists());
    }
}

#[test]
fn schema_prints_the_role_views() {
    let data_dir = TempDir::new();
    let output = common::keel_command(data_dir.path(), "unused_")
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    let sdl = String::from_utf8_lossy(&output.stdout);
    assert!(sdl.contains("projectManager"), "{sdl}");
    assert!(sdl.contains("operations"), "{sdl}");
    // The published schema for frontend developers is what the binary serves.
    let published = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.graphql")).unwrap();
    assert!(
        published == sdl,
        "docs/schema.graphql is stale: run `cargo run -- schema > docs/schema.graphql`"
    );
}

#[test]
fn a_service_run_alone_refuses_a_configuration_that_would_fail_quietly() {
    let data_dir = TempDir::new();
    let run = |extra: &[(&str, &str)], target: &str| {
        let mut command = common::keel_command(data_dir.path(), &unique_prefix());
        command.env_remove("KEEL__EVENTS__NATS_URL");
        for (key, value) in extra {
            command.env(key, value);
        }
        command
            .args([
                "run",
                "--target",
                target,
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let status = wait_or_kill(&mut child, Duration::from_secs(20));
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (status, stderr)
    };
    let (status, stderr) = run(&[], "crm");
    assert!(matches!(status, Some(s) if !s.success()), "crm without NATS started");
    assert!(stderr.contains("events.nats_url"), "{stderr}");

    let nats = [("KEEL__EVENTS__NATS_URL", "nats://127.0.0.1:1")];
    let (status, stderr) = run(&nats, "project-setup");
    assert!(
        matches!(status, Some(s) if !s.success()),
        "project-setup without endpoints started"
    );
    assert!(stderr.contains("services.crm"), "{stderr}");

    let (status, stderr) = run(&[], "gateway");
    assert!(
        matches!(status, Some(s) if !s.success()),
        "gateway without endpoints started"
    );
    assert!(stderr.contains("services.psa"), "{stderr}");
}

#[test]
fn seed_says_which_system_it_could_not_reach() {
    let data_dir = TempDir::new();
    // Nothing listens on port 9 (discard) here: PSA, where seeding starts, is unreachable.
    let output = common::keel_command(data_dir.path(), &unique_prefix())
        .env("KEEL__SERVICES__PSA", "http://127.0.0.1:9")
        .env("KEEL__SERVICES__HRIS", "http://127.0.0.1:9")
        .env("KEEL__SERVICES__CRM", "http://127.0.0.1:9")
        .arg("seed")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("seeding the demo firm"), "{stderr}");
    assert!(stderr.contains("seeding delivery templates"), "{stderr}");
}
