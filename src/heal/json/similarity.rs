//! Small similarity measures the key-drift healer combines. All return [0, 1].

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// |a ∩ b| / |a ∪ b|; 0 for two empty sets.
pub fn jaccard<T: Eq + Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Splits a key into lower-case words: `caseNumber`, `case_number` and
/// `case-number` all give `case`, `number`.
pub fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in key.chars() {
        let boundary = !c.is_alphanumeric()
            || (c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()))
            || (c.is_ascii_digit() && prev.is_some_and(char::is_alphabetic))
            || (c.is_alphabetic() && prev.is_some_and(|p| p.is_ascii_digit()));
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        }
        prev = Some(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// How alike two key names are: shared words (a word matches another it is a
/// prefix of, so `no` matches `number`, `field` matches `fields`), or shared
/// letter pairs, whichever says more.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    if a.eq_ignore_ascii_case(b) {
        return 1.0;
    }
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() || wb.is_empty() {
        return 0.0;
    }
    let matches = |x: &str, y: &str| {
        x == y || (x.len().min(y.len()) >= 2 && (x.starts_with(y) || y.starts_with(x)))
    };
    let mut used = vec![false; wb.len()];
    let mut shared = 0usize;
    for x in &wa {
        if let Some(j) = (0..wb.len()).find(|&j| !used[j] && matches(x, &wb[j])) {
            used[j] = true;
            shared += 1;
        }
    }
    let word_score = 2.0 * shared as f64 / (wa.len() + wb.len()) as f64;
    let bigrams = |s: &str| -> HashSet<(char, char)> {
        let chars: Vec<char> = s
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        chars.windows(2).map(|w| (w[0], w[1])).collect()
    };
    let (ba, bb) = (bigrams(a), bigrams(b));
    let dice = if ba.is_empty() || bb.is_empty() {
        0.0
    } else {
        2.0 * ba.intersection(&bb).count() as f64 / (ba.len() + bb.len()) as f64
    };
    word_score.max(dice * 0.8)
}

/// The shape of a value: character classes with runs collapsed, cut to a few
/// symbols (`2025-06-16T04:00` gives `9-9-9a9:9`).
pub fn shape(s: &str) -> String {
    // Prose is prose whatever its punctuation.
    if s.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count()
        >= 4
    {
        return "text".into();
    }
    let mut out = String::new();
    for c in s.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        if !out.ends_with(class) {
            out.push(class);
        }
        if out.chars().count() >= 10 {
            break;
        }
    }
    out
}

/// How alike two lists of values are in kind, whatever their content: JSON
/// types, shapes and typical lengths.
pub fn value_profile_similarity(
    a: &[String],
    a_kinds: &[&str],
    b: &[String],
    b_kinds: &[&str],
) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let types = distribution_overlap(a_kinds.iter().copied(), b_kinds.iter().copied());
    let shapes = distribution_overlap(a.iter().map(|s| shape(s)), b.iter().map(|s| shape(s)));
    let median_len = |v: &[String]| -> f64 {
        let mut lens: Vec<usize> = v.iter().map(|s| s.chars().count()).collect();
        lens.sort_unstable();
        lens[lens.len() / 2] as f64
    };
    let (la, lb) = ((median_len(a) + 1.0).ln(), (median_len(b) + 1.0).ln());
    let length = if la.max(lb) == 0.0 {
        1.0
    } else {
        la.min(lb) / la.max(lb)
    };
    0.35 * types + 0.35 * shapes + 0.30 * length
}

/// Overlap of two categorical distributions (sum of the smaller shares).
fn distribution_overlap<T: Eq + Hash>(
    a: impl Iterator<Item = T>,
    b: impl Iterator<Item = T>,
) -> f64 {
    let count = |it: &mut dyn Iterator<Item = T>| -> (HashMap<T, f64>, f64) {
        let mut m = HashMap::new();
        let mut n = 0.0;
        for x in it {
            *m.entry(x).or_insert(0.0) += 1.0;
            n += 1.0;
        }
        (m, n)
    };
    let mut a = a;
    let mut b = b;
    let (ma, na) = count(&mut a);
    let (mb, nb) = count(&mut b);
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    ma.iter()
        .map(|(k, ca)| (ca / na).min(mb.get(k).map_or(0.0, |cb| cb / nb)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_camel_snake_and_digits() {
        assert_eq!(words("caseNumber"), ["case", "number"]);
        assert_eq!(words("seo_title"), ["seo", "title"]);
        assert_eq!(words("line1"), ["line", "1"]);
        assert_eq!(words("@graph"), ["graph"]);
    }

    #[test]
    fn names_match_by_words_and_abbreviation() {
        assert_eq!(name_similarity("seo_title", "seoTitle"), 1.0);
        assert_eq!(name_similarity("fieldMap", "field_map"), 1.0);
        assert!((name_similarity("caseNumber", "caseNo") - 0.5).abs() < 1e-9);
        assert!(name_similarity("fieldMap", "fields") > 0.6);
        assert!(name_similarity("prepTime", "time_prep") > 0.99);
        assert!(name_similarity("name", "headline") < 0.5);
        assert!(name_similarity("documentUrl", "pdfUrl") >= 0.5);
    }

    #[test]
    fn profiles_tell_dates_from_titles() {
        let dates = vec![
            "2025-01-02T04:00:00".to_string(),
            "2024-12-30T05:00:00".to_string(),
        ];
        let other_dates = vec!["2023-03-01T04:00:00".to_string()];
        let titles = vec!["Smith v. Jones, a long case title".to_string()];
        let k = ["str", "str"];
        let same = value_profile_similarity(&dates, &k, &other_dates, &k[..1]);
        let diff = value_profile_similarity(&dates, &k, &titles, &k[..1]);
        assert!(same > 0.95, "{same}");
        assert!(diff < same - 0.3, "{diff}");
    }
}
