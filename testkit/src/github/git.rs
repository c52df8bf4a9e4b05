//! Reads and writes on the real bare repositories behind the REST views.

use std::path::Path;

use git2::{FileMode, Oid, Repository, Signature, build::TreeUpdateBuilder};

/// A git failure, carried to the caller as text for the answer's message.
pub type GitResult<T> = Result<T, String>;

fn err(e: git2::Error) -> String {
    e.message().to_string()
}

pub fn open(path: &Path) -> GitResult<Repository> {
    Repository::open_bare(path).map_err(err)
}

/// Creates a bare repository whose `HEAD` names `default_branch`.
pub fn init_bare(path: &Path, default_branch: &str) -> GitResult<Repository> {
    let repo = Repository::init_bare(path).map_err(err)?;
    repo.set_head(&format!("refs/heads/{default_branch}"))
        .map_err(err)?;
    // Pushes over smart HTTP must be accepted without a REMOTE_USER-based guess.
    let mut config = repo.config().map_err(err)?;
    config.set_bool("http.receivepack", true).map_err(err)?;
    config.set_bool("http.uploadpack", true).map_err(err)?;
    Ok(repo)
}

/// The commit a branch, tag, full ref or (abbreviated) SHA names.
pub fn resolve_commit(repo: &Repository, name: &str) -> Option<Oid> {
    let candidates = [
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/{name}"),
        name.to_string(),
    ];
    for candidate in &candidates {
        if let Ok(reference) = repo.find_reference(candidate)
            && let Ok(commit) = reference.peel_to_commit()
        {
            return Some(commit.id());
        }
    }
    repo.revparse_single(name)
        .ok()
        .and_then(|o| o.peel_to_commit().ok())
        .map(|c| c.id())
}

pub fn branch_sha(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
}

pub fn signature(name: &str, email: &str) -> GitResult<Signature<'static>> {
    Signature::now(name, email).map_err(err)
}

/// One change to a tree: a path set to content (or to an existing object), or removed.
#[derive(Debug, Clone)]
pub enum TreeEdit {
    Content {
        path: String,
        content: Vec<u8>,
        mode: FileMode,
    },
    Object {
        path: String,
        oid: Oid,
        mode: FileMode,
    },
    Remove {
        path: String,
    },
}

/// Applies `edits` to `base` (or to an empty tree) and writes the new tree.
pub fn edit_tree(repo: &Repository, base: Option<Oid>, edits: &[TreeEdit]) -> GitResult<Oid> {
    let base_tree = match base {
        Some(oid) => repo.find_tree(oid).map_err(err)?,
        None => {
            let empty = repo.treebuilder(None).map_err(err)?.write().map_err(err)?;
            repo.find_tree(empty).map_err(err)?
        }
    };
    let mut builder = TreeUpdateBuilder::new();
    for edit in edits {
        match edit {
            TreeEdit::Content {
                path,
                content,
                mode,
            } => {
                let blob = repo.blob(content).map_err(err)?;
                builder.upsert(path.as_str(), blob, *mode);
            }
            TreeEdit::Object { path, oid, mode } => {
                builder.upsert(path.as_str(), *oid, *mode);
            }
            TreeEdit::Remove { path } => {
                builder.remove(path.as_str());
            }
        }
    }
    builder.create_updated(repo, &base_tree).map_err(err)
}

/// Writes a commit (without moving any ref).
pub fn write_commit(
    repo: &Repository,
    tree: Oid,
    parents: &[Oid],
    message: &str,
    author: &Signature<'_>,
) -> GitResult<Oid> {
    let tree = repo.find_tree(tree).map_err(err)?;
    let parents = parents
        .iter()
        .map(|p| repo.find_commit(*p).map_err(err))
        .collect::<GitResult<Vec<_>>>()?;
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(None, author, author, message, &tree, &parent_refs)
        .map_err(err)
}

/// Points `refs/...` at `target`, creating it if needed.
pub fn set_ref(repo: &Repository, full_ref: &str, target: Oid, log: &str) -> GitResult<()> {
    repo.reference(full_ref, target, true, log)
        .map_err(err)
        .map(|_| ())
}

/// Commits `edits` on top of `branch`; a missing branch starts from `start`
/// (or from nothing, for a repository's first commit).
pub fn commit_on_branch(
    repo: &Repository,
    branch: &str,
    start: Option<Oid>,
    edits: &[TreeEdit],
    message: &str,
    author: &Signature<'_>,
) -> GitResult<Oid> {
    let parent = branch_sha(repo, branch).or(start);
    let base_tree = match parent {
        Some(p) => Some(repo.find_commit(p).map_err(err)?.tree_id()),
        None => None,
    };
    let tree = edit_tree(repo, base_tree, edits)?;
    let parents: Vec<Oid> = parent.into_iter().collect();
    let commit = write_commit(repo, tree, &parents, message, author)?;
    set_ref(repo, &format!("refs/heads/{branch}"), commit, message)?;
    Ok(commit)
}

/// The blob at `path` in `commit`'s tree, with its id.
pub fn blob_at(repo: &Repository, commit: Oid, path: &str) -> Option<(Oid, Vec<u8>)> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some((entry.id(), blob.content().to_vec()))
}

/// Merges `head` into `base` in memory; `None` when the trees conflict.
pub fn merge_tree(repo: &Repository, base: Oid, head: Oid) -> GitResult<Option<Oid>> {
    let base_commit = repo.find_commit(base).map_err(err)?;
    let head_commit = repo.find_commit(head).map_err(err)?;
    let mut index = repo
        .merge_commits(&base_commit, &head_commit, None)
        .map_err(err)?;
    if index.has_conflicts() {
        return Ok(None);
    }
    index.write_tree_to(repo).map(Some).map_err(err)
}

pub fn parse_mode(mode: &str) -> Option<FileMode> {
    match mode {
        "100644" => Some(FileMode::Blob),
        "100755" => Some(FileMode::BlobExecutable),
        "040000" | "40000" => Some(FileMode::Tree),
        "160000" => Some(FileMode::Commit),
        "120000" => Some(FileMode::Link),
        _ => None,
    }
}

pub fn mode_string(mode: i32) -> String {
    format!("{mode:06o}")
}
