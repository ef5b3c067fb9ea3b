//! TF-IDF features over a SOW's words and word pairs, fitted on the training texts: sublinear
//! term frequency, smoothed inverse document frequency fixed at fit time, rows scaled to unit
//! length so that long and short SOWs weigh alike.
//!
//! Why not linfa-preprocessing's `TfIdfVectorizer` (0.8.1): it recomputes the inverse document
//! frequencies from whatever batch it transforms, so one SOW scored on its own gets an idf of 1
//! for every term and different features from the same SOW scored in a batch; and it numbers its
//! vocabulary in `HashMap` order, so the features (and the solver's path) change from run to run.
//! A recommender serves one SOW at a time and its figures must be reproducible, and the
//! computation is a few lines, so it lives here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ndarray::Array2;

use crate::InsightError;

/// Words too common in every SOW to say anything about its template.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "its", "of", "on", "or", "the",
    "this", "to", "will", "with", "we", "our", "their", "all", "any", "each", "which", "that", "been", "into",
];

/// A fitted vocabulary (in term order) and its inverse document frequencies.
#[derive(Debug, Clone)]
pub struct TfIdf {
    terms: Vec<String>,
    index: HashMap<String, usize>,
    idf: Vec<f64>,
}

impl TfIdf {
    /// Fits the vocabulary on `texts`: every word or word pair found in at least
    /// `min_document_share` of them (and in at least one).
    pub fn fit(texts: &[&str], min_document_share: f32) -> Result<TfIdf, InsightError> {
        let mut document_frequency: BTreeMap<String, usize> = BTreeMap::new();
        for text in texts {
            let seen: BTreeSet<String> = terms(text).into_keys().collect();
            for term in seen {
                *document_frequency.entry(term).or_default() += 1;
            }
        }
        let min_documents = ((f64::from(min_document_share) * texts.len() as f64).ceil() as usize).max(1);
        let documents = texts.len() as f64;
        let (terms, idf): (Vec<String>, Vec<f64>) = document_frequency
            .into_iter()
            .filter(|(_, count)| *count >= min_documents)
            .map(|(term, count)| (term, ((1.0 + documents) / (1.0 + count as f64)).ln() + 1.0))
            .unzip();
        if terms.is_empty() {
            return Err(InsightError::Training("no term is common enough to learn from".into()));
        }
        let index = terms
            .iter()
            .enumerate()
            .map(|(position, term)| (term.clone(), position))
            .collect();
        Ok(TfIdf { terms, index, idf })
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The term behind feature `feature`.
    pub fn term(&self, feature: usize) -> &str {
        &self.terms[feature]
    }

    /// One row of unit-length features per text; a text's row does not depend on the others.
    pub fn transform(&self, texts: &[&str]) -> Result<Array2<f64>, InsightError> {
        let mut matrix = Array2::zeros((texts.len(), self.terms.len()));
        for (row, text) in texts.iter().enumerate() {
            for (term, count) in terms(text) {
                if let Some(&feature) = self.index.get(&term) {
                    matrix[(row, feature)] = (1.0 + (count as f64).ln()) * self.idf[feature];
                }
            }
            let norm = matrix.row(row).mapv(|value| value * value).sum().sqrt();
            if norm > 0.0 {
                matrix.row_mut(row).mapv_inplace(|value| value / norm);
            }
        }
        Ok(matrix)
    }
}

/// Words (lower case, at least two characters, at least one letter, not a stopword) and pairs
/// of adjacent words, with their counts.
fn terms(text: &str) -> HashMap<String, usize> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '/' || c == '-'))
        .map(|word| word.trim_matches(|c: char| c == '-' || c == '/'))
        .filter(|word| word.chars().count() >= 2 && word.chars().any(char::is_alphabetic))
        .filter(|word| !STOPWORDS.contains(word))
        .collect();
    let mut counts = HashMap::new();
    for word in &words {
        *counts.entry((*word).to_string()).or_default() += 1;
    }
    for pair in words.windows(2) {
        *counts.entry(format!("{} {}", pair[0], pair[1])).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_scores_the_same_alone_and_in_a_batch() {
        let texts = [
            "fixed fee erp deployment",
            "time and materials data platform",
            "erp data migration",
        ];
        let features = TfIdf::fit(&texts, 0.0).unwrap();
        let batch = features.transform(&texts).unwrap();
        let alone = features.transform(&texts[2..]).unwrap();
        assert_eq!(batch.row(2), alone.row(0));
        let norm: f64 = alone.row(0).mapv(|value| value * value).sum();
        assert!((norm - 1.0).abs() < 1e-12);
        assert!(
            features.terms.windows(2).all(|pair| pair[0] < pair[1]),
            "terms in order"
        );
    }
}
