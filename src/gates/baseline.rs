//! Which findings a change introduced. A finding the base commit already
//! had does not fail the gate, even when edits above it moved it to another
//! line: findings are matched by file, rule and a normalised message, and
//! each base finding excuses at most one head finding.

use std::collections::HashMap;

use super::finding::Finding;

/// The key two runs' findings are matched by.
fn key(f: &Finding) -> (String, String, String) {
    (f.path.clone(), f.rule.clone(), normalise(&f.message))
}

/// The message without what edits change: numbers (line references, counts,
/// durations) become `#`, runs of whitespace become one space.
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    let mut in_space = false;
    for c in message.trim().chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
            in_space = false;
            continue;
        }
        in_number = false;
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        out.push(c);
    }
    out
}

/// Splits `head` into (new, existing) against `base`. Order within each part
/// follows `head`. When several head findings share a key, the ones closest
/// in line to a base finding are the existing ones.
pub fn split(head: Vec<Finding>, base: &[Finding]) -> (Vec<Finding>, Vec<Finding>) {
    let mut base_lines: HashMap<(String, String, String), Vec<u32>> = HashMap::new();
    for f in base {
        base_lines.entry(key(f)).or_default().push(f.line);
    }
    // Pair each base finding with the nearest unmatched head finding of the same key.
    let mut existing_index = vec![false; head.len()];
    for (k, lines) in &base_lines {
        let mut candidates: Vec<usize> = head
            .iter()
            .enumerate()
            .filter(|(_, f)| &key(f) == k)
            .map(|(i, _)| i)
            .collect();
        for line in lines {
            let nearest = candidates
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| head[**i].line.abs_diff(*line))
                .map(|(pos, i)| (pos, *i));
            if let Some((pos, i)) = nearest {
                existing_index[i] = true;
                candidates.remove(pos);
            }
        }
    }
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for (f, old) in head.into_iter().zip(existing_index) {
        if old {
            existing.push(f);
        } else {
            new.push(f);
        }
    }
    (new, existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::{Severity, Tool};

    fn f(path: &str, line: u32, rule: &str, message: &str) -> Finding {
        Finding {
            tool: Tool::Mypy,
            path: path.into(),
            line,
            column: None,
            end_line: None,
            rule: rule.into(),
            severity: Severity::Error,
            message: message.into(),
        }
    }

    #[test]
    fn shifted_findings_are_existing() {
        let base = vec![f("a.py", 10, "E711", "Comparison to `None`")];
        let head = vec![
            f("a.py", 12, "E711", "Comparison to `None`"),
            f("a.py", 2, "F401", "`os` imported but unused"),
        ];
        let (new, existing) = split(head, &base);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].rule, "F401");
        assert_eq!(existing[0].line, 12);
    }

    #[test]
    fn one_base_finding_excuses_one_head_finding() {
        let base = vec![f("a.py", 5, "x", "bad thing on line 5")];
        let head = vec![
            f("a.py", 30, "x", "bad thing on line 30"),
            f("a.py", 7, "x", "bad thing on line 7"),
        ];
        let (new, existing) = split(head, &base);
        assert_eq!(existing.len(), 1);
        assert_eq!(existing[0].line, 7, "the nearest one is the old one");
        assert_eq!(new[0].line, 30);
    }

    #[test]
    fn other_files_and_rules_do_not_match() {
        let base = vec![f("a.py", 1, "x", "m")];
        let head = vec![f("b.py", 1, "x", "m"), f("a.py", 1, "y", "m")];
        assert_eq!(split(head, &base).0.len(), 2);
    }

    #[test]
    fn normalise_drops_numbers_and_spacing() {
        assert_eq!(
            normalise("  Timeout (>3.0s)   from\tx "),
            "Timeout (>#.#s) from x"
        );
    }
}
