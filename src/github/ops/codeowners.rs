//! CODEOWNERS: where GitHub looks for it, and who owns a path.

use regex::Regex;

use super::{GitHubClient, OpsError};
use crate::github::RepoName;

/// Where GitHub reads CODEOWNERS from, in the order it looks.
pub const CODEOWNERS_LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// A parsed CODEOWNERS file.
#[derive(Debug, Clone)]
pub struct CodeOwners {
    /// Where it was found.
    pub path: String,
    rules: Vec<(Regex, Vec<String>)>,
}

impl CodeOwners {
    /// Parses CODEOWNERS text; lines whose pattern cannot be understood are
    /// skipped (GitHub ignores them too).
    pub fn parse(path: &str, text: &str) -> Self {
        let rules = text
            .lines()
            .filter_map(|line| {
                let line = strip_comment(line);
                let mut parts = line.split_whitespace();
                let pattern = parts.next()?;
                let owners = parts.map(str::to_owned).collect();
                Some((pattern_regex(pattern)?, owners))
            })
            .collect();
        Self {
            path: path.to_owned(),
            rules,
        }
    }

    /// The owners of `file` (`@user`, `@org/team` or an email): the last
    /// matching rule wins, and a matching rule without owners means nobody.
    pub fn owners_of(&self, file: &str) -> &[String] {
        let file = file.trim_start_matches('/');
        self.rules
            .iter()
            .rev()
            .find(|(re, _)| re.is_match(file))
            .map(|(_, owners)| owners.as_slice())
            .unwrap_or(&[])
    }
}

fn strip_comment(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'#') => {
                out.push('#');
                chars.next();
            }
            '#' => break,
            c => out.push(c),
        }
    }
    out
}

/// Translates a CODEOWNERS (gitignore-style) pattern to a regex over
/// repository-relative paths.
fn pattern_regex(pattern: &str) -> Option<Regex> {
    if pattern.starts_with('!') || pattern.starts_with('[') {
        return None; // negation and character ranges are not supported by GitHub
    }
    let trimmed = pattern.trim_end_matches('/');
    let directory_only = pattern.ends_with('/');
    let anchored = trimmed.starts_with('/') || trimmed.trim_start_matches('/').contains('/');
    let body = trimmed.trim_start_matches('/');
    let mut re = String::from(if anchored { "^" } else { "^(?:.*/)?" });
    let bytes: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            '*' if bytes.get(i + 1) == Some(&'*') => {
                if bytes.get(i + 2) == Some(&'/') {
                    re.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    re.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if directory_only {
        re.push_str("/.*$");
    } else if body.ends_with("/*") {
        // GitHub: `docs/*` owns docs/a.md but not docs/sub/b.md.
        re.push('$');
    } else {
        re.push_str("(?:/.*)?$");
    }
    Regex::new(&re).ok()
}

impl GitHubClient {
    /// The repository's CODEOWNERS at `git_ref`, from the first of GitHub's
    /// three locations that has one.
    pub async fn codeowners(
        &self,
        repo: &RepoName,
        git_ref: &str,
    ) -> Result<Option<CodeOwners>, OpsError> {
        for location in CODEOWNERS_LOCATIONS {
            if let Some(file) = self.get_file(repo, location, git_ref).await? {
                return Ok(Some(CodeOwners::parse(
                    location,
                    &String::from_utf8_lossy(&file.bytes),
                )));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# default owners
*       @octo-org/platform
*.py    @py-owner
/scrapers/shop/ @shop-team @alice
scrapers/news/** @news
docs/*  docs@example.com
apps/   @apps-owner
scrapers/shop/vendored.py
\\#odd  @hash
";

    fn owners(path: &str) -> Vec<String> {
        CodeOwners::parse(".github/CODEOWNERS", FILE)
            .owners_of(path)
            .to_vec()
    }

    #[test]
    fn last_match_wins() {
        assert_eq!(owners("README.md"), ["@octo-org/platform"]);
        assert_eq!(owners("lib/util.py"), ["@py-owner"]);
        assert_eq!(owners("scrapers/shop/spider.py"), ["@shop-team", "@alice"]);
        assert_eq!(
            owners("scrapers/shop/tests/test_spider.py"),
            ["@shop-team", "@alice"]
        );
        assert_eq!(owners("scrapers/news/a/b.yml"), ["@news"]);
    }

    #[test]
    fn a_rule_without_owners_clears_them() {
        assert!(owners("scrapers/shop/vendored.py").is_empty());
    }

    #[test]
    fn star_does_not_cross_directories_in_anchored_patterns() {
        assert_eq!(owners("docs/guide.md"), ["docs@example.com"]);
        assert_eq!(owners("docs/deep/guide.md"), ["@octo-org/platform"]);
    }

    #[test]
    fn directory_patterns_match_at_any_depth_and_escaped_hashes_work() {
        assert_eq!(owners("apps/x.txt"), ["@apps-owner"]);
        assert_eq!(owners("src/apps/x.txt"), ["@apps-owner"]);
        assert_eq!(owners("#odd"), ["@hash"]);
    }
}
