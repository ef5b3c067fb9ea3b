//! The Slack-compatible message a notification is sent as: `text` (the fallback every client
//! shows) and `blocks` (a header, the text, and the numbers as fields).

use serde_json::{Value, json};

/// Slack's limit on a header block's text.
const MAX_HEADER_CHARS: usize = 150;
/// Slack's limit on a section's text.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on a section's fields.
const MAX_FIELDS: usize = 10;

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// The message body for `title`, `text` and labelled `details`.
pub fn payload(title: &str, text: &str, details: &[(String, String)]) -> Value {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(title, MAX_HEADER_CHARS) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(text, MAX_SECTION_CHARS) } }),
    ];
    let fields: Vec<Value> = details
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .take(MAX_FIELDS)
        .map(|(label, value)| json!({ "type": "mrkdwn", "text": clip(&format!("*{label}*\n{value}"), 2000) }))
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    json!({ "text": clip(text, MAX_SECTION_CHARS), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_text_and_blocks_within_slacks_limits() {
        let long = "x".repeat(200);
        let body = payload(&long, "Effort 15.00% over", &[("Measured".into(), "15.00".into())]);
        assert_eq!(body["text"], "Effort 15.00% over");
        assert_eq!(body["blocks"][0]["type"], "header");
        assert_eq!(body["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), 150);
        assert_eq!(body["blocks"][2]["fields"][0]["text"], "*Measured*\n15.00");
    }
}
