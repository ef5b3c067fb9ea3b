//! TF-IDF features over a SOW's words and word pairs, fitted on the training texts with
//! linfa-preprocessing's vectorizer (smoothed idf), rows scaled to unit length so that long and
//! short SOWs weigh alike.

use std::sync::Mutex;

use linfa_preprocessing::tf_idf_vectorization::{FittedTfIdfVectorizer, TfIdfVectorizer};
use ndarray::{Array1, Array2};

use crate::InsightError;

/// Words too common in every SOW to say anything about its template.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "its", "of", "on", "or", "the",
    "this", "to", "will", "with", "we", "our", "their", "all", "any", "each", "which", "that", "been", "into",
];

/// A fitted vocabulary and its inverse document frequencies.
///
/// The fitted vectorizer caches its compiled tokenizer in a `RefCell`, so it is not `Sync`; a
/// mutex around it lets one trained recommender serve concurrent requests.
#[derive(Debug)]
pub struct TfIdf {
    vectorizer: Mutex<FittedTfIdfVectorizer>,
    vocabulary: Vec<String>,
}

impl TfIdf {
    /// Fits the vocabulary on `texts`: every word or word pair found in at least
    /// `min_document_share` of them.
    pub fn fit(texts: &[&str], min_document_share: f32) -> Result<TfIdf, InsightError> {
        let documents = Array1::from_iter(texts.iter().map(|text| text.to_string()));
        let vectorizer = TfIdfVectorizer::default()
            .n_gram_range(1, 2)
            .stopwords(STOPWORDS)
            .document_frequency(min_document_share, 1.0)
            .fit(&documents)
            .map_err(|error| InsightError::Training(format!("TF-IDF vocabulary: {error}")))?;
        let vocabulary = vectorizer.vocabulary().clone();
        Ok(TfIdf {
            vectorizer: Mutex::new(vectorizer),
            vocabulary,
        })
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.vocabulary.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The term behind feature `feature`.
    pub fn term(&self, feature: usize) -> &str {
        &self.vocabulary[feature]
    }

    /// One row of unit-length features per text.
    pub fn transform(&self, texts: &[&str]) -> Result<Array2<f64>, InsightError> {
        let documents = Array1::from_iter(texts.iter().map(|text| text.to_string()));
        let sparse = self
            .vectorizer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .transform(&documents)
            .map_err(|error| InsightError::Training(format!("TF-IDF features: {error}")))?;
        let mut matrix = sparse.to_dense();
        for mut row in matrix.rows_mut() {
            let norm = row.mapv(|value| value * value).sum().sqrt();
            if norm > 0.0 {
                row.mapv_inplace(|value| value / norm);
            }
        }
        Ok(matrix)
    }
}
