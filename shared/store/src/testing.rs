//! Throwaway stores for tests: a SQLite file in a fresh temporary directory, or, when
//! `KEEL_TEST_DATABASE_URL` is set (as `.ci/run` does), a fresh PostgreSQL schema.
//!
//! This is the one place test code reads the environment for storage.

use std::path::PathBuf;

use crate::connect::{Backend, StoreOptions};

/// The PostgreSQL URL tests run against, when set.
pub fn test_database_url() -> Option<String> {
    std::env::var("KEEL_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())
}

/// The NATS URL tests run against, when set.
pub fn test_nats_url() -> Option<String> {
    std::env::var("KEEL_TEST_NATS_URL").ok().filter(|v| !v.is_empty())
}

/// A unique prefix for one test's schemas, streams and subjects.
pub fn unique_prefix() -> String {
    format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("keel-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store for one test, on PostgreSQL when configured, else SQLite.
#[derive(Debug)]
pub struct TestStore {
    pub options: StoreOptions,
    pub dir: TempDir,
}

impl TestStore {
    pub fn new(service: &str) -> TestStore {
        let dir = TempDir::new();
        let options = match test_database_url() {
            Some(url) => StoreOptions {
                backend: Backend::Postgres {
                    url,
                    schema: format!("{}{}", unique_prefix(), service.replace('-', "_")),
                },
                max_connections: 5,
            },
            None => StoreOptions {
                backend: Backend::Sqlite {
                    path: dir.path().join(format!("{service}.db")),
                },
                max_connections: 5,
            },
        };
        TestStore { options, dir }
    }
}
