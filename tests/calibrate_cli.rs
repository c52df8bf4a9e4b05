//! `fixwright calibrate` finds the store the way `serve` does: the configured
//! database URL, else SQLite in the data directory.

use std::path::Path;
use std::process::{Command, Output};

use fixwright::confidence::outcomes::{self, OutcomeKind};
use fixwright::store::Store;

/// Runs `fixwright calibrate` with `args` and no configuration from the environment.
fn calibrate(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .arg("calibrate")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("FIXWRIGHT_CONFIG")
        .env_remove("FIXWRIGHT_DATABASE_URL")
        .env_remove("FIXWRIGHT_DATA_DIR")
        .output()
        .expect("run fixwright calibrate")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "calibrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn calibrate_reads_the_store_in_the_data_directory() {
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", data.path().join("fixwright.db").display());
    let store = Store::open(&url).await.expect("open the store");
    for (score, kind) in [
        (0.9, OutcomeKind::Verified),
        (0.8, OutcomeKind::Verified),
        (0.3, OutcomeKind::Reverted),
    ] {
        let recorded = outcomes::record(&store, ulid::Ulid::new(), score, kind).await;
        assert!(matches!(recorded, Ok(true)), "{recorded:?}");
    }
    store.close().await;

    let found = stdout(&calibrate(&[], data.path()));
    assert!(found.starts_with("3 outcomes, 2 succeeded"), "{found}");

    // An explicit URL wins over the data directory.
    let empty = tempfile::tempdir().expect("temp dir");
    let elsewhere = format!("sqlite://{}", empty.path().join("other.db").display());
    let explicit = stdout(&calibrate(&["--database-url", &elsewhere], data.path()));
    assert!(
        explicit.starts_with("no outcomes recorded yet"),
        "{explicit}"
    );
}

#[test]
fn calibrate_names_a_bad_configuration() {
    let data = tempfile::tempdir().expect("temp dir");
    let out = calibrate(&["--database-url", "mysql://nowhere"], data.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database_url"), "{err}");
}
