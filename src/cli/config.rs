//! `fixwright config check [PATH]`: validates a repository's
//! `.github/fixwright.yml` (and `.github/fixwright.cedar`) and prints the
//! effective policy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::policy::file::{CEDAR_FILE, POLICY_FILE};
use crate::policy::render::effective_policy;
use crate::policy::{
    CedarError, CedarPolicy, Mode, PolicyError, RepoPolicy, ScraperName, effective_mode,
};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a repository's policy file and print the effective policy.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The repository root, or the policy file itself.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Also print the Cedar policy set generated for this scraper.
    #[arg(long)]
    pub scraper: Option<String>,
    /// Fixwright's own mode, to show the mode in force.
    #[arg(long, default_value = "on")]
    pub global_mode: Mode,
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Cedar(#[from] CedarError),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error(transparent)]
    Name(#[from] crate::policy::glob::GlobError),
    #[error(transparent)]
    Layout(#[from] crate::repair::scraper::LayoutError),
}

pub fn run(args: ConfigArgs) -> ExitCode {
    match args.command {
        ConfigCommand::Check(check_args) => match check(&check_args) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Checks the files and renders the report `config check` prints.
pub fn check(args: &CheckArgs) -> Result<String, CheckError> {
    let (root, file) = if args.path.is_dir() {
        (args.path.clone(), args.path.join(POLICY_FILE))
    } else {
        // PATH/.github/fixwright.yml → the repository root is two levels up.
        let root = args
            .path
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        (root, args.path.clone())
    };
    let policy = match std::fs::read_to_string(&file) {
        Ok(text) => RepoPolicy::parse(&text, &file)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && args.path.is_dir() => {
            RepoPolicy::default()
        }
        Err(err) => return Err(CheckError::Read(file, err)),
    };
    let cedar_file = root.join(CEDAR_FILE);
    let user_cedar = match std::fs::read_to_string(&cedar_file) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(CheckError::Read(cedar_file, err)),
    };
    // The Cedar set is built (and so validated) even without --scraper.
    let scraper = ScraperName::new(args.scraper.as_deref().unwrap_or("example"))?;
    // The scraper finder (gates, repair) must be able to follow `scrapers:`.
    let layout = crate::repair::scraper::Layout::from_policy(&policy)?;
    // The set a fix of this scraper would get: among the repository's other
    // scrapers, when the path is a repository with the scraper in it.
    let others: Vec<ScraperName> = match &args.scraper {
        Some(name) if root.is_dir() => crate::repair::scraper::find_among(&root, name, &layout)
            .map(|(_, others)| crate::repair::scraper::policy_names(&others))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let cedar = CedarPolicy::build(&policy, &scraper, &others, user_cedar.as_deref())?;

    let mut out = format!("{}: ok\n", file.display());
    if user_cedar.is_some() {
        out.push_str(&format!(
            "{}: ok (forbid statements only)\n",
            cedar_file.display()
        ));
    }
    out.push_str(&format!(
        "mode in force: {} (installation {}, repository {})\n",
        effective_mode(args.global_mode, policy.mode),
        args.global_mode,
        policy.mode
    ));
    out.push_str(&effective_policy(&policy));
    if args.scraper.is_some() {
        out.push_str(&format!("\nCedar policy set for scraper `{scraper}`:\n"));
        out.push_str(&cedar.to_cedar());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(yml: Option<&str>, cedar: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        if let Some(yml) = yml {
            std::fs::write(dir.path().join(POLICY_FILE), yml).unwrap();
        }
        if let Some(cedar) = cedar {
            std::fs::write(dir.path().join(CEDAR_FILE), cedar).unwrap();
        }
        dir
    }

    fn args(path: &Path, scraper: Option<&str>) -> CheckArgs {
        CheckArgs {
            path: path.to_owned(),
            scraper: scraper.map(str::to_owned),
            global_mode: Mode::DryRun,
        }
    }

    #[test]
    fn config_check_prints_the_effective_policy() {
        let dir = repo(Some("mode: on\nlimits:\n  max_attempts: 2\n"), None);
        let out = check(&args(dir.path(), None)).unwrap();
        let out = out.replace(&dir.path().display().to_string(), "REPO");
        insta::assert_snapshot!(out);
        // No file at all: the defaults.
        let empty = repo(None, None);
        assert!(
            check(&args(empty.path(), None))
                .unwrap()
                .contains("limits: at most 200")
        );
    }

    #[test]
    fn config_check_names_the_bad_line_and_field() {
        let dir = repo(Some("mode: on\nmerge:\n  automerge: true\n"), None);
        let err = check(&args(dir.path(), None)).unwrap_err().to_string();
        assert!(err.ends_with(".github/fixwright.yml:3:3: merge: unknown field `automerge`, expected one of `auto_merge`, `method`, `reviewers`"), "{err}");
        // The file can be named directly too.
        let err = check(&args(&dir.path().join(POLICY_FILE), None)).unwrap_err();
        assert!(matches!(
            err,
            CheckError::Policy(PolicyError::Syntax { line: 3, .. })
        ));

        let dir = repo(None, Some("permit (principal, action, resource);\n"));
        let err = check(&args(dir.path(), Some("quotes")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(".github/fixwright.cedar:1: statement 1 is a `permit`"),
            "{err}"
        );

        // A layout the scraper finder cannot follow is refused here too.
        let dir = repo(
            Some("scrapers:\n  modules: ['crawlers/*/{name}.py']\n"),
            None,
        );
        let err = check(&args(dir.path(), None)).unwrap_err().to_string();
        assert!(
            err.contains("field `scrapers.modules`: the pattern `crawlers/*/{name}.py`"),
            "{err}"
        );
    }

    #[test]
    fn config_check_prints_the_cedar_set_for_a_scraper() {
        let dir = repo(
            None,
            Some("forbid (principal, action == Fixwright::Action::\"merge\", resource);\n"),
        );
        let out = check(&args(dir.path(), Some("quotes"))).unwrap();
        assert!(out.contains("(forbid statements only)"));
        assert!(out.contains("Cedar policy set for scraper `quotes`:"));
        assert!(out.contains("resource.path like \"scrapers/quotes.py\""));
        assert!(out.contains("// from .github/fixwright.cedar (statement 1)"));
    }
}
