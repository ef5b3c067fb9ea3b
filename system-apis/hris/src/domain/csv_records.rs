//! Splits an HR system's CSV export into records with the `csv` crate, so one bad record is
//! one error and the records after it still parse.
//!
//! RFC 4180: `,` between fields, `"` quoting (`""` inside quotes), LF or CRLF line ends, a
//! leading byte-order mark ignored, blank lines skipped. Records are read as bytes, so a
//! record that is not UTF-8 spoils only itself. Column counts are checked by the caller
//! against the header.

/// One record: the line it starts on (1-based) and its fields, or why it is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Result<Vec<String>, String>,
}

/// Every non-blank record of `bytes`, in order.
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    // Lines are counted from the byte offset each record starts at.
    let mut counted_to = 0usize;
    let mut line = 1u64;
    let mut line_at = |offset: u64| {
        let mut offset = usize::try_from(offset).unwrap_or(bytes.len()).min(bytes.len());
        // A record's reported start may sit on the line end before it.
        while offset < bytes.len() && matches!(bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset > counted_to {
            line += bytes[counted_to..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            counted_to = offset;
        }
        line
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| line_at(p.byte()));
                let fields = record
                    .iter()
                    .enumerate()
                    .map(|(i, field)| {
                        String::from_utf8(field.to_vec()).map_err(|_| format!("column {} is not UTF-8 text", i + 1))
                    })
                    .collect();
                out.push(Record { line, fields });
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| line_at(p.byte()));
                out.push(Record {
                    line,
                    fields: Err(format!("malformed CSV: {error}")),
                });
                if !matches!(
                    error.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: u64, fields: &[&str]) -> Record {
        Record {
            line,
            fields: Ok(fields.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn quoted_fields_crlf_and_blank_lines() {
        let text = "\u{feff}a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n\"multi\nline\",z\nlast,\n";
        assert_eq!(
            records(text.as_bytes()),
            vec![
                ok(1, &["a", "b"]),
                ok(2, &["x, y", "say \"hi\""]),
                ok(4, &["multi\nline", "z"]),
                ok(6, &["last", ""]),
            ]
        );
    }

    #[test]
    fn a_record_that_is_not_utf8_spoils_itself_only() {
        let mut bytes = b"a,b\ngood,1\n".to_vec();
        bytes.extend_from_slice(b"caf\xe9,2\n");
        bytes.extend_from_slice(b"after,3\n");
        let got = records(&bytes);
        let lines: Vec<_> = got.iter().map(|r| (r.line, r.fields.is_ok())).collect();
        assert_eq!(lines, [(1, true), (2, true), (3, false), (4, true)]);
        assert_eq!(got[2].fields.as_ref().unwrap_err(), "column 1 is not UTF-8 text");
        assert_eq!(got[3], ok(4, &["after", "3"]));
    }
}
