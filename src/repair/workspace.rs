//! The git side of a repair: a cached clone per repository, a worktree and a
//! branch per attempt, and the commit that carries the fix.
//!
//! Nothing here touches a checked-out working tree: each attempt gets its own
//! worktree (a separate directory), so a user's checkout of the same
//! repository only gains a branch.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use git2::{
    BranchType, Cred, DiffFormat, FetchOptions, Oid, RemoteCallbacks, Repository, Signature,
    WorktreeAddOptions, WorktreePruneOptions,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::attempt::AttemptId;
use super::scraper::ScraperName;

/// A commit's full hexadecimal SHA.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn oid(&self) -> Result<Oid, git2::Error> {
        Oid::from_str(&self.0)
    }
}

impl From<Oid> for CommitSha {
    fn from(oid: Oid) -> Self {
        CommitSha(oid.to_string())
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repair branch of an attempt: `fixwright/<scraper>/<attempt-id>`.
pub fn branch_name(scraper: &ScraperName, attempt: AttemptId) -> String {
    format!("fixwright/{scraper}/{attempt}")
}

/// A commit message ending in the trailers every repair commit carries.
pub fn commit_message(summary: &str, body: &str, attempt: AttemptId, confidence: f64) -> String {
    let mut message = summary.trim().to_owned();
    message.push_str("\n\n");
    if !body.trim().is_empty() {
        message.push_str(body.trim());
        message.push_str("\n\n");
    }
    message.push_str(&format!(
        "Fixwright-Attempt: {attempt}\nFixwright-Confidence: {confidence:.3}\n"
    ));
    message
}

/// Why a git operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{} is not a git repository (it must be the repository's top directory): {source}", path.display())]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("the repository at {} has no commit to start from", path.display())]
    NoHead { path: PathBuf },
    #[error("cannot clone or fetch {url} into {}: {source}", path.display())]
    Clone {
        url: String,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{url} has no commit {commit}")]
    NoSuchCommit { url: String, commit: CommitSha },
    #[error("branch {0} already exists")]
    BranchExists(String),
    #[error("`{0}` is not a path inside the repository")]
    BadPath(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// A user name and password for git over HTTPS.
pub struct GitCredentials {
    pub username: String,
    pub password: SecretString,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Fetch options answering git's credential requests with `credentials`,
/// once: a refused password is an error, not a loop.
fn fetch_options(credentials: Option<&GitCredentials>) -> FetchOptions<'_> {
    let mut callbacks = RemoteCallbacks::new();
    if let Some(credentials) = credentials {
        let mut asked = false;
        callbacks.credentials(move |_url, _user, _allowed| {
            if asked {
                return Err(git2::Error::from_str(
                    "the remote refused the credentials (an expired or revoked token?)",
                ));
            }
            asked = true;
            Cred::userpass_plaintext(&credentials.username, credentials.password.expose_secret())
        });
    }
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    options
}

/// A repository Fixwright works on.
pub struct Workspace {
    repo: Repository,
    path: PathBuf,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("path", &self.path)
            .finish()
    }
}

impl Workspace {
    /// The repository at exactly `path`: no search upwards for an enclosing
    /// repository, so a subdirectory of a repository is refused.
    pub fn open_local(path: &Path) -> Result<Self, WorkspaceError> {
        let repo = Repository::open(path).map_err(|source| WorkspaceError::NotARepository {
            path: path.to_path_buf(),
            source,
        })?;
        let top = repo.workdir().unwrap_or_else(|| repo.path());
        let same = std::fs::canonicalize(top).ok() == std::fs::canonicalize(path).ok();
        if !same && repo.workdir().is_some() {
            return Err(WorkspaceError::NotARepository {
                path: path.to_path_buf(),
                source: git2::Error::from_str("the path is not the repository's top directory"),
            });
        }
        Ok(Workspace {
            repo,
            path: path.to_path_buf(),
        })
    }

    /// A bare clone of `url` kept under `cache_dir` (named by a hash of the
    /// URL), created on first use and fetched on every later use.
    pub fn cached_clone(url: &str, cache_dir: &Path) -> Result<Self, WorkspaceError> {
        Self::cached_clone_as(url, cache_dir, None)
    }

    /// [`Self::cached_clone`] authenticating over HTTPS with `credentials`
    /// (for GitHub: an installation token). The credentials are handed to git
    /// per request and never written into the clone.
    pub fn cached_clone_as(
        url: &str,
        cache_dir: &Path,
        credentials: Option<&GitCredentials>,
    ) -> Result<Self, WorkspaceError> {
        let digest = hex::encode(Sha256::digest(url.as_bytes()));
        let path = cache_dir.join(format!("{}.git", &digest[..16]));
        let clone_err = |source| WorkspaceError::Clone {
            url: url.to_owned(),
            path: path.clone(),
            source,
        };
        let repo = if path.join("HEAD").is_file() {
            let repo = Repository::open_bare(&path).map_err(clone_err)?;
            {
                let mut remote = repo.find_remote("origin").map_err(clone_err)?;
                remote
                    .fetch(
                        &["+refs/heads/*:refs/heads/*"],
                        Some(&mut fetch_options(credentials)),
                        None,
                    )
                    .map_err(clone_err)?;
            }
            repo
        } else {
            std::fs::create_dir_all(cache_dir).map_err(|source| WorkspaceError::Write {
                path: cache_dir.to_path_buf(),
                source,
            })?;
            // Clone next to the final place and rename, so an interrupted
            // clone is never mistaken for a cached one.
            let tmp = cache_dir.join(format!(".tmp-{}-{}", &digest[..16], ulid::Ulid::new()));
            let cloned = git2::build::RepoBuilder::new()
                .bare(true)
                .fetch_options(fetch_options(credentials))
                .clone(url, &tmp)
                .map_err(clone_err);
            match cloned {
                Ok(repo) => {
                    drop(repo);
                    if let Err(source) = std::fs::rename(&tmp, &path) {
                        let _ = std::fs::remove_dir_all(&tmp);
                        if !path.join("HEAD").is_file() {
                            return Err(WorkspaceError::Write { path, source });
                        }
                    }
                    Repository::open_bare(&path).map_err(clone_err)?
                }
                Err(error) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    return Err(error);
                }
            }
        };
        Ok(Workspace { repo, path })
    }

    /// Makes `path` (an existing directory) a new git repository whose first
    /// commit on `main` holds every file in it, honouring its `.gitignore`.
    pub fn init_with_files(path: &Path, message: &str) -> Result<Self, WorkspaceError> {
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = Repository::init_opts(path, &options)?;
        {
            let mut index = repo.index()?;
            index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
            index.write()?;
            let tree = repo.find_tree(index.write_tree()?)?;
            let signature = Signature::now("Fixwright", "fixwright@users.noreply.github.com")?;
            repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[])?;
        }
        Ok(Workspace {
            repo,
            path: path.to_path_buf(),
        })
    }

    /// Where the repository is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure `commit` is here, fetching it from `origin` by its id when
    /// no fetched branch holds it (a pull request from a fork, a branch since
    /// moved). It is kept under `refs/fixwright/commits/`.
    pub fn ensure_commit(
        &self,
        commit: &CommitSha,
        credentials: Option<&GitCredentials>,
    ) -> Result<(), WorkspaceError> {
        let oid = commit.oid()?;
        if self.repo.find_commit(oid).is_ok() {
            return Ok(());
        }
        let url = self
            .repo
            .find_remote("origin")
            .ok()
            .and_then(|r| r.url().map(str::to_owned))
            .unwrap_or_default();
        let clone_err = |source| WorkspaceError::Clone {
            url: url.clone(),
            path: self.path.clone(),
            source,
        };
        let mut remote = self.repo.find_remote("origin").map_err(clone_err)?;
        let refspec = format!("+{oid}:refs/fixwright/commits/{oid}");
        remote
            .fetch(&[refspec], Some(&mut fetch_options(credentials)), None)
            .map_err(clone_err)?;
        self.repo
            .find_commit(oid)
            .map(drop)
            .map_err(|_| WorkspaceError::NoSuchCommit {
                url,
                commit: commit.clone(),
            })
    }

    /// Writes a working tree of `commit` into `dest` (a directory that does
    /// not exist yet): a repository of its own with `commit` checked out
    /// detached, borrowing this repository's objects (git's alternates), so
    /// nothing is copied and every fetched commit can be compared with. It
    /// must be removed before this repository is garbage-collected.
    pub fn checkout_detached(&self, commit: &CommitSha, dest: &Path) -> Result<(), WorkspaceError> {
        let oid = commit.oid()?;
        self.repo.find_commit(oid)?;
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WorkspaceError::Write { path, source }
        };
        let init = Repository::init(dest)?;
        let objects = std::fs::canonicalize(self.repo.path().join("objects"))
            .map_err(write_err(self.repo.path()))?;
        let alternates = init.path().join("objects").join("info").join("alternates");
        if let Some(parent) = alternates.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        std::fs::write(&alternates, format!("{}\n", objects.display()))
            .map_err(write_err(&alternates))?;
        drop(init);
        // Opened again so the alternates are read.
        let checkout = Repository::open(dest)?;
        checkout.set_head_detached(oid)?;
        checkout.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
        Ok(())
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> Result<CommitSha, WorkspaceError> {
        self.repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id().into())
            .ok_or_else(|| WorkspaceError::NoHead {
                path: self.path.clone(),
            })
    }

    /// Whether a local branch exists.
    pub fn has_branch(&self, name: &str) -> bool {
        self.repo.find_branch(name, BranchType::Local).is_ok()
    }

    /// The content of `path` at `commit`, if the file exists there.
    pub fn read_at(
        &self,
        commit: &CommitSha,
        path: &Path,
    ) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let tree = self.repo.find_commit(commit.oid()?)?.tree()?;
        match tree.get_path(path) {
            Ok(entry) => Ok(Some(self.repo.find_blob(entry.id())?.content().to_vec())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every file path (with `/` separators) in the tree of `commit`.
    pub fn files_at(&self, commit: &CommitSha) -> Result<Vec<String>, WorkspaceError> {
        let tree = self.repo.find_commit(commit.oid()?)?.tree()?;
        let mut files = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob)
                && let Some(name) = entry.name()
            {
                files.push(format!("{dir}{name}"));
            }
            git2::TreeWalkResult::Ok
        })?;
        Ok(files)
    }

    /// The commit message of `commit`.
    pub fn message_of(&self, commit: &CommitSha) -> Result<String, WorkspaceError> {
        Ok(self
            .repo
            .find_commit(commit.oid()?)?
            .message()
            .unwrap_or_default()
            .to_owned())
    }

    /// Creates the attempt's branch at `base` and checks it out in a new
    /// worktree under `worktrees_dir`.
    pub fn start_attempt(
        &self,
        scraper: &ScraperName,
        attempt: AttemptId,
        base: &CommitSha,
        worktrees_dir: &Path,
    ) -> Result<AttemptWorktree, WorkspaceError> {
        let branch = branch_name(scraper, attempt);
        if self.has_branch(&branch) {
            return Err(WorkspaceError::BranchExists(branch));
        }
        let base_commit = self.repo.find_commit(base.oid()?)?;
        std::fs::create_dir_all(worktrees_dir).map_err(|source| WorkspaceError::Write {
            path: worktrees_dir.to_path_buf(),
            source,
        })?;
        let name = format!("fixwright-{attempt}");
        let path = worktrees_dir.join(&name);
        let created = self.repo.branch(&branch, &base_commit, false)?;
        let reference = created.into_reference();
        let mut options = WorktreeAddOptions::new();
        options.reference(Some(&reference));
        if let Err(error) = self.repo.worktree(&name, &path, Some(&options)) {
            // Leave no branch behind for an attempt that never started.
            if let Ok(mut branch_ref) = self.repo.find_branch(&branch, BranchType::Local) {
                let _ = branch_ref.delete();
            }
            return Err(error.into());
        }
        Ok(AttemptWorktree {
            path,
            name,
            branch,
            base: base.clone(),
        })
    }

    /// Removes an attempt's worktree; its branch stays if `keep_branch`.
    pub fn finish_attempt(
        &self,
        worktree: AttemptWorktree,
        keep_branch: bool,
    ) -> Result<(), WorkspaceError> {
        let _ = std::fs::remove_dir_all(&worktree.path);
        if let Ok(found) = self.repo.find_worktree(&worktree.name) {
            let mut prune = WorktreePruneOptions::new();
            prune.valid(true).working_tree(true);
            found.prune(Some(&mut prune))?;
        }
        if !keep_branch
            && let Ok(mut branch) = self.repo.find_branch(&worktree.branch, BranchType::Local)
        {
            branch.delete()?;
        }
        Ok(())
    }

    /// The unified diff between two commits.
    pub fn diff(&self, from: &CommitSha, to: &CommitSha) -> Result<String, WorkspaceError> {
        let old = self.repo.find_commit(from.oid()?)?.tree()?;
        let new = self.repo.find_commit(to.oid()?)?.tree()?;
        let diff = self.repo.diff_tree_to_tree(Some(&old), Some(&new), None)?;
        let mut patch = String::new();
        diff.print(DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                patch.push(line.origin());
            }
            patch.push_str(&String::from_utf8_lossy(line.content()));
            true
        })?;
        Ok(patch)
    }
}

/// One attempt's checkout: a directory with the attempt's branch checked out.
#[derive(Debug)]
pub struct AttemptWorktree {
    /// The directory holding the checkout.
    pub path: PathBuf,
    /// `fixwright/<scraper>/<attempt-id>`.
    pub branch: String,
    /// The commit the branch started from.
    pub base: CommitSha,
    name: String,
}

impl AttemptWorktree {
    /// Writes `content` to `relative` inside the checkout. Absolute paths and
    /// `..` are refused.
    pub fn write_file(&self, relative: &Path, content: &[u8]) -> Result<(), WorkspaceError> {
        let inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !inside || relative.as_os_str().is_empty() || relative.starts_with(".git") {
            return Err(WorkspaceError::BadPath(relative.display().to_string()));
        }
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| WorkspaceError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, content).map_err(|source| WorkspaceError::Write { path, source })
    }

    /// Commits every change in the checkout on the attempt's branch, as
    /// Fixwright.
    pub fn commit(&self, message: &str) -> Result<CommitSha, WorkspaceError> {
        let repo = Repository::open(&self.path)?;
        let mut index = repo.index()?;
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
        index.update_all(["*"], None)?;
        index.write()?;
        let tree = repo.find_tree(index.write_tree()?)?;
        let parent = repo.head()?.peel_to_commit()?;
        let signature = Signature::now("Fixwright", "fixwright@users.noreply.github.com")?;
        let oid = repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &[&parent],
        )?;
        Ok(oid.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_messages_end_in_trailers() {
        let id = AttemptId::new();
        let message = commit_message("fix(books): heal selector", "why\n", id, 0.9712);
        assert!(message.starts_with("fix(books): heal selector\n\nwhy\n\n"));
        assert!(message.ends_with(&format!(
            "Fixwright-Attempt: {id}\nFixwright-Confidence: 0.971\n"
        )));
    }
}
