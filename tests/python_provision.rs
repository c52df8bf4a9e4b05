//! Provisioning against the real Python and the real pip.

use std::path::{Path, PathBuf};

use fixwright::python::{EnvInputs, InterpreterError, ProvisionError, Provisioner};

fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/test-venvs")
}

fn example_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scrapers-repo")
}

fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content)
            .unwrap_or_else(|e| panic!("write {name}: {e}"));
    }
    dir
}

async fn python_ok(python: &Path, code: &str) -> bool {
    tokio::process::Command::new(python)
        .args(["-c", code])
        .status()
        .await
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn python_example_env_is_reused_on_the_second_run() {
    let provisioner = Provisioner::new(shared_cache());
    let first = provisioner
        .provision(&EnvInputs::repository(example_repo()))
        .await
        .unwrap_or_else(|e| panic!("provisioning the example repository: {e}"));
    assert!(python_ok(&first.python, "import scrapy, parsel, bs4, pytest").await);
    let second = provisioner
        .provision(&EnvInputs::repository(example_repo()))
        .await
        .unwrap_or_else(|e| panic!("second provisioning: {e}"));
    assert!(second.reused, "the second run must reuse the environment");
    assert_eq!(first.root, second.root);
    // No half-built environment is left behind.
    let debris: Vec<_> = std::fs::read_dir(shared_cache())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".tmp-env-") && n.contains(&second.key[..20]))
                .collect()
        })
        .unwrap_or_default();
    assert!(debris.is_empty(), "leftover build dirs: {debris:?}");
}

#[tokio::test]
async fn python_changed_requirements_rebuild_and_extras_change_the_key() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = repo_with(&[("requirements.txt", "# nothing yet\n")]);
    let provisioner = Provisioner::new(cache.path());
    let first = provisioner
        .provision(&EnvInputs::repository(repo.path()))
        .await
        .unwrap_or_else(|e| panic!("first: {e}"));
    assert!(!first.reused);
    assert!(!python_ok(&first.python, "import iniconfig").await);
    let again = provisioner
        .provision(&EnvInputs::repository(repo.path()))
        .await
        .unwrap_or_else(|e| panic!("again: {e}"));
    assert!(again.reused);
    assert_eq!(again.root, first.root);

    std::fs::write(repo.path().join("requirements.txt"), "iniconfig==2.3.0\n")
        .unwrap_or_else(|e| panic!("rewrite: {e}"));
    let changed = provisioner
        .provision(&EnvInputs::repository(repo.path()))
        .await
        .unwrap_or_else(|e| panic!("changed: {e}"));
    assert!(!changed.reused, "changed requirements must rebuild");
    assert_ne!(changed.root, first.root);
    assert!(python_ok(&changed.python, "import iniconfig").await);

    let with_tools = EnvInputs {
        repo: repo.path().to_path_buf(),
        extra_requirements: vec!["pluggy==1.6.0".into()],
    };
    let tooled = provisioner
        .provision(&with_tools)
        .await
        .unwrap_or_else(|e| panic!("with tools: {e}"));
    assert!(!tooled.reused);
    assert_ne!(tooled.root, changed.root);
    assert!(python_ok(&tooled.python, "import pluggy, iniconfig").await);
    // The environment was built elsewhere and renamed: its scripts must point
    // at where it lives now.
    let pip_script = std::fs::read_to_string(tooled.root.join("bin/pip"))
        .unwrap_or_else(|e| panic!("read bin/pip: {e}"));
    assert!(pip_script.contains(&*tooled.root.to_string_lossy()));
}

#[tokio::test]
async fn python_missing_interpreter_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = repo_with(&[(".python-version", "3.99\n"), ("requirements.txt", "")]);
    let result = Provisioner::new(cache.path())
        .provision(&EnvInputs::repository(repo.path()))
        .await;
    let message = match result {
        Err(ProvisionError::Interpreter(error @ InterpreterError::Missing { .. })) => {
            error.to_string()
        }
        other => panic!("expected a missing interpreter, got {other:?}"),
    };
    assert!(
        message.contains("3.99") && message.contains(".python-version"),
        "{message}"
    );
    let leftovers = std::fs::read_dir(cache.path())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing is built for a missing interpreter");

    let unreadable = repo_with(&[("pyproject.toml", "[project]\nrequires-python = \">>3\"\n")]);
    let result = Provisioner::new(cache.path())
        .provision(&EnvInputs::repository(unreadable.path()))
        .await;
    assert!(
        matches!(
            result,
            Err(ProvisionError::Interpreter(InterpreterError::BadRequest { ref file, .. }))
                if file.contains("pyproject.toml")
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn python_bad_package_names_the_file_and_the_package() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = repo_with(&[
        ("requirements.txt", "# fine\n"),
        (
            "requirements-dev.txt",
            "fixwright-surely-not-a-package==0.0.1\n",
        ),
    ]);
    let result = Provisioner::new(cache.path())
        .provision(&EnvInputs::repository(repo.path()))
        .await;
    match result {
        Err(ProvisionError::PipInstall { file, package, .. }) => {
            assert_eq!(file, "requirements-dev.txt");
            assert!(
                package.contains("fixwright-surely-not-a-package"),
                "{package}"
            );
        }
        other => panic!("expected a pip failure, got {other:?}"),
    }
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Locks and the probed interpreters are not environments.
                .filter(|n| !n.ends_with(".lock") && n != "interpreters.json")
                .collect()
        })
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "a failed build leaves nothing: {leftovers:?}"
    );
}

#[tokio::test]
async fn python_unreachable_index_from_pip_configuration() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = repo_with(&[("requirements.txt", "six==1.16.0\n")]);
    // Port 9 (discard) on loopback has no index: pip's configuration is used
    // as given, so the failure must say the index is unreachable.
    let result = Provisioner::new(cache.path())
        .with_pip_env(vec![
            ("PIP_INDEX_URL".into(), "http://127.0.0.1:9/simple/".into()),
            ("PIP_RETRIES".into(), "0".into()),
            ("PIP_FIND_LINKS".into(), String::new()),
            ("PIP_NO_CACHE_DIR".into(), "1".into()),
        ])
        .provision(&EnvInputs::repository(repo.path()))
        .await;
    match result {
        Err(ProvisionError::IndexUnreachable {
            file,
            package,
            host,
            ..
        }) => {
            assert_eq!(file, "requirements.txt");
            assert_eq!(package, "six==1.16.0");
            assert!(host.is_some_and(|h| h.contains("127.0.0.1")));
        }
        other => panic!("expected an unreachable index, got {other:?}"),
    }
}
