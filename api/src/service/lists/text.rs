//! Text similarity for matching without a word segmenter: character
//! bigrams of each run of letters, digits and Chinese characters.

use std::collections::HashSet;

/// The bigrams of `text`, lower-cased; a run of one character gives itself.
pub fn bigrams(text: &str) -> HashSet<String> {
    let mut grams = HashSet::new();
    for run in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|r| !r.is_empty())
    {
        let chars: Vec<char> = run.to_lowercase().chars().collect();
        if chars.len() == 1 {
            grams.insert(chars[0].to_string());
        }
        for pair in chars.windows(2) {
            grams.insert(pair.iter().collect());
        }
    }
    grams
}

/// Dice's coefficient of two bigram sets: 2|A∩B| / (|A|+|B|), in 0..=1.
pub fn dice(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    2.0 * shared / (a.len() + b.len()) as f64
}

/// How much of `part`'s bigrams occur in `whole`, in 0..=1.
pub fn coverage(part: &HashSet<String>, whole: &HashSet<String>) -> f64 {
    if part.is_empty() {
        return 0.0;
    }
    part.intersection(whole).count() as f64 / part.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_bigrams() {
        let g = bigrams("助老 陪护，Tai Chi");
        assert!(g.contains("助老"));
        assert!(g.contains("陪护"));
        assert!(g.contains("ta"));
        assert!(!g.contains("老陪"));
        assert_eq!(bigrams("修").len(), 1);
    }

    #[test]
    fn similarity() {
        let a = bigrams("独居老人助餐");
        let b = bigrams("老人助餐服务");
        assert!(dice(&a, &b) > 0.5);
        assert_eq!(dice(&a, &bigrams("篮球场地")), 0.0);
        assert_eq!(coverage(&bigrams("助餐"), &a), 1.0);
    }
}
