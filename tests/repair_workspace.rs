//! The git workspace on real repositories made in temporary directories.

use std::path::{Path, PathBuf};

use fixwright::repair::attempt::AttemptId;
use fixwright::repair::scraper::ScraperName;
use fixwright::repair::workspace::{self, Workspace, WorkspaceError};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn example_repo(dir: &Path) -> Workspace {
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scrapers-repo"),
        dir,
    );
    Workspace::init_with_files(dir, "Scrapers").unwrap_or_else(|e| panic!("init: {e}"))
}

fn books() -> ScraperName {
    ScraperName::new("books").unwrap_or_else(|| panic!("valid name"))
}

const SPIDER: &str = "bookshop/spiders/books.py";

#[test]
fn workspace_commits_on_the_attempt_branch_without_touching_the_checkout() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let repo_dir = temp.path().join("repo");
    let ws = example_repo(&repo_dir);
    let base = ws.head().unwrap_or_else(|e| panic!("head: {e}"));
    // The user has uncommitted work in their checkout.
    let dirty = "# work in progress\n";
    std::fs::write(repo_dir.join("scrapers/notes.py"), dirty).unwrap_or_else(|e| panic!("{e}"));
    let spider_before = std::fs::read(repo_dir.join(SPIDER)).unwrap_or_else(|e| panic!("{e}"));

    let attempt = AttemptId::new();
    let worktrees = temp.path().join("data/worktrees");
    let wt = ws
        .start_attempt(&books(), attempt, &base, &worktrees)
        .unwrap_or_else(|e| panic!("start: {e}"));
    assert_eq!(wt.branch, format!("fixwright/books/{attempt}"));
    let healed = String::from_utf8_lossy(&spider_before)
        .replace("article.product_pod", "article.product-card");
    wt.write_file(Path::new(SPIDER), healed.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    wt.write_file(Path::new("tests/files/books.html"), b"<html>new</html>")
        .unwrap_or_else(|e| panic!("write fixture: {e}"));
    assert!(matches!(
        wt.write_file(Path::new("../escape.py"), b"x"),
        Err(WorkspaceError::BadPath(_))
    ));
    assert!(matches!(
        wt.write_file(Path::new(".git/config"), b"x"),
        Err(WorkspaceError::BadPath(_))
    ));
    let message = workspace::commit_message(
        "fix(books): heal selector drift",
        "Renamed class.",
        attempt,
        0.97,
    );
    let commit = wt
        .commit(&message)
        .unwrap_or_else(|e| panic!("commit: {e}"));
    let branch = wt.branch.clone();
    ws.finish_attempt(wt, true)
        .unwrap_or_else(|e| panic!("finish: {e}"));

    // The branch holds the commit, with its trailers, on top of the base.
    let reopened = Workspace::open_local(&repo_dir).unwrap_or_else(|e| panic!("reopen: {e}"));
    assert!(reopened.has_branch(&branch));
    let stored = reopened
        .message_of(&commit)
        .unwrap_or_else(|e| panic!("message: {e}"));
    assert!(
        stored.contains(&format!("Fixwright-Attempt: {attempt}\n")),
        "{stored}"
    );
    assert!(stored.contains("Fixwright-Confidence: 0.970"), "{stored}");
    let committed = reopened
        .read_at(&commit, Path::new(SPIDER))
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(committed.as_deref(), Some(healed.as_bytes()));
    let diff = reopened
        .diff(&base, &commit)
        .unwrap_or_else(|e| panic!("diff: {e}"));
    assert!(
        diff.contains("-        for book in response.css(\"article.product_pod\"):"),
        "{diff}"
    );
    assert!(
        diff.contains("+        for book in response.css(\"article.product-card\"):"),
        "{diff}"
    );
    assert!(diff.contains("tests/files/books.html"));
    // The dirty file was not committed and the checkout is as it was.
    assert_eq!(
        reopened
            .read_at(&commit, Path::new("scrapers/notes.py"))
            .ok()
            .flatten(),
        None
    );
    assert_eq!(reopened.head().ok(), Some(base));
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("scrapers/notes.py"))
            .ok()
            .as_deref(),
        Some(dirty)
    );
    assert_eq!(
        std::fs::read(repo_dir.join(SPIDER)).ok(),
        Some(spider_before)
    );
    assert!(!worktrees.join(format!("fixwright-{attempt}")).exists());
}

#[test]
fn workspace_abandoned_attempt_leaves_no_branch() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let ws = example_repo(&temp.path().join("repo"));
    let base = ws.head().unwrap_or_else(|e| panic!("head: {e}"));
    let attempt = AttemptId::new();
    let wt = ws
        .start_attempt(&books(), attempt, &base, &temp.path().join("wt"))
        .unwrap_or_else(|e| panic!("start: {e}"));
    let branch = wt.branch.clone();
    assert!(ws.has_branch(&branch));
    ws.finish_attempt(wt, false)
        .unwrap_or_else(|e| panic!("finish: {e}"));
    assert!(!ws.has_branch(&branch));
    // The same attempt id cannot create its branch twice.
    let again = ws.start_attempt(&books(), attempt, &base, &temp.path().join("wt"));
    assert!(again.is_ok());
    let again = ws.start_attempt(&books(), attempt, &base, &temp.path().join("wt2"));
    assert!(matches!(again, Err(WorkspaceError::BranchExists(_))));
}

#[test]
fn workspace_opens_exactly_the_given_path() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let repo_dir = temp.path().join("repo");
    example_repo(&repo_dir);
    assert!(matches!(
        Workspace::open_local(&repo_dir.join("bookshop")),
        Err(WorkspaceError::NotARepository { .. })
    ));
    let plain = temp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Workspace::open_local(&plain),
        Err(WorkspaceError::NotARepository { .. })
    ));
    assert!(Workspace::open_local(&repo_dir).is_ok());
}

#[test]
fn workspace_cached_clone_is_reused_and_fetched() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let source_dir = temp.path().join("upstream");
    let upstream = example_repo(&source_dir);
    let cache: PathBuf = temp.path().join("data/repos");
    let url = format!("file://{}", source_dir.display());
    let clone = Workspace::cached_clone(&url, &cache).unwrap_or_else(|e| panic!("clone: {e}"));
    let first_head = clone.head().unwrap_or_else(|e| panic!("head: {e}"));
    assert_eq!(Some(&first_head), upstream.head().ok().as_ref());
    let clone_path = clone.path().to_path_buf();

    // An attempt in the cached clone commits on its own branch.
    let attempt = AttemptId::new();
    let wt = clone
        .start_attempt(
            &books(),
            attempt,
            &first_head,
            &temp.path().join("data/worktrees"),
        )
        .unwrap_or_else(|e| panic!("start: {e}"));
    wt.write_file(Path::new("tests/files/books_new.html"), b"<html></html>")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let commit = wt
        .commit(&workspace::commit_message("fix", "", attempt, 0.5))
        .unwrap_or_else(|e| panic!("commit: {e}"));
    let branch = wt.branch.clone();
    clone
        .finish_attempt(wt, true)
        .unwrap_or_else(|e| panic!("finish: {e}"));
    drop(clone);

    // Upstream moves on; the next use fetches into the same clone.
    let upstream_wt = upstream
        .start_attempt(
            &books(),
            AttemptId::new(),
            &first_head,
            &temp.path().join("up-wt"),
        )
        .unwrap_or_else(|e| panic!("upstream start: {e}"));
    upstream_wt
        .write_file(Path::new("README.md"), b"changed upstream\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let upstream_commit = upstream_wt
        .commit("upstream change")
        .unwrap_or_else(|e| panic!("{e}"));
    let upstream_branch = upstream_wt.branch.clone();
    upstream
        .finish_attempt(upstream_wt, true)
        .unwrap_or_else(|e| panic!("{e}"));

    let again = Workspace::cached_clone(&url, &cache).unwrap_or_else(|e| panic!("again: {e}"));
    assert_eq!(again.path(), clone_path);
    assert!(again.has_branch(&upstream_branch), "fetched the new branch");
    assert!(again.has_branch(&branch), "kept the attempt's branch");
    assert!(again.message_of(&upstream_commit).is_ok());
    assert!(again.message_of(&commit).is_ok());
}
