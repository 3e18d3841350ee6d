//! Static bearer tokens in kube-apiserver's `--token-auth-file` format, and join tokens.
//!
//! Each CSV record is `token,user,uid[,"group1,group2"]` (upstream
//! `tokenfile.NewCSV`): at least three columns, groups split on commas, empty tokens skipped,
//! a later duplicate replacing an earlier one. Lookups compare every stored token in
//! constant time so response timing does not reveal how much of a guess was right.
//! [`generate_token`] produces tokens in the bootstrap-token shape `[a-z0-9]{6}.[a-z0-9]{16}`
//! used by `kubeadm join`, which `bramble agent` uses to join a cluster.

use std::fs;
use std::path::{Path, PathBuf};

use rand::{Rng, TryRngCore};

use super::identity::Identity;

/// Errors loading a token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The token file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record is not valid CSV.
    #[error("token file parse error on line {line}: {message}")]
    Csv {
        /// 1-based line number where the record starts.
        line: usize,
        /// What is wrong.
        message: &'static str,
    },
    /// A record has fewer than the three required columns.
    #[error("token file must have at least 3 columns (token, user name, user uid), found {found} on line {line}")]
    TooFewColumns {
        /// 1-based line number of the record.
        line: usize,
        /// How many columns it has.
        found: usize,
    },
}

/// One token and the user it stands for.
#[derive(Debug, Clone)]
struct TokenEntry {
    token: Vec<u8>,
    user: String,
    groups: Vec<String>,
}

/// Authenticates bearer tokens against a static token file.
#[derive(Debug, Clone, Default)]
pub struct TokenAuthenticator {
    entries: Vec<TokenEntry>,
}

impl TokenAuthenticator {
    /// An authenticator that accepts no token.
    pub fn empty() -> TokenAuthenticator {
        TokenAuthenticator::default()
    }

    /// Loads a token file; a missing file is an error (callers decide whether it is optional).
    pub fn load(path: &Path) -> Result<TokenAuthenticator, TokenFileError> {
        let text = fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TokenAuthenticator::from_csv(&text)
    }

    /// Parses token file contents.
    pub fn from_csv(text: &str) -> Result<TokenAuthenticator, TokenFileError> {
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (line, record) in parse_csv(text)? {
            if record.len() < 3 {
                return Err(TokenFileError::TooFewColumns {
                    line,
                    found: record.len(),
                });
            }
            if record[0].is_empty() {
                tracing::warn!(line, "empty token in token file; record skipped");
                continue;
            }
            let groups = match record.get(3) {
                Some(field) => field.split(',').map(str::to_string).collect(),
                None => Vec::new(),
            };
            let entry = TokenEntry {
                token: record[0].as_bytes().to_vec(),
                user: record[1].clone(),
                groups,
            };
            if let Some(existing) = entries.iter_mut().find(|e| e.token == entry.token) {
                tracing::warn!(line, "duplicate token in token file; the later record wins");
                *existing = entry;
            } else {
                entries.push(entry);
            }
        }
        Ok(TokenAuthenticator { entries })
    }

    /// Number of distinct tokens loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity for `token`, or `None` when it is not a known token.
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        let candidate = token.as_bytes();
        let mut found: Option<&TokenEntry> = None;
        // No early exit: every entry is compared so timing does not depend on position.
        for entry in &self.entries {
            if constant_time_eq(&entry.token, candidate) {
                found = Some(entry);
            }
        }
        found.map(|e| Identity::authenticated(e.user.clone(), e.groups.clone()))
    }
}

/// Compares two byte strings in time independent of where they differ (lengths may leak,
/// as with Go's `subtle.ConstantTimeCompare`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Formats one token file record, quoting the groups column when needed.
pub fn format_token_record(token: &str, user: &str, uid: &str, groups: &[&str]) -> String {
    let mut line = [token, user, uid].map(quote_field).join(",");
    if !groups.is_empty() {
        line.push(',');
        line.push_str(&quote_field(&groups.join(",")));
    }
    line.push('\n');
    line
}

fn quote_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A new random token shaped like a bootstrap token: `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn generate_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    let id = pick(6);
    let secret = pick(16);
    format!("{id}.{secret}")
}

/// Splits RFC 4180 CSV (as Go's `encoding/csv` reads it) into records with their starting
/// line numbers. Blank lines are skipped; quoted fields may hold commas, `""` and newlines.
fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, TokenFileError> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start_line = line;
        if matches!(chars.peek(), Some('\n' | '\r')) {
            if chars.next() == Some('\n') {
                line += 1;
            }
            continue;
        }
        let mut record = Vec::new();
        let mut field = String::new();
        loop {
            match chars.next() {
                None => {
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some('\n') => {
                    line += 1;
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some(',') => record.push(std::mem::take(&mut field)),
                Some('"') if field.is_empty() => {
                    // Quoted field: runs to the closing quote; `""` is a literal quote.
                    loop {
                        match chars.next() {
                            None => {
                                return Err(TokenFileError::Csv {
                                    line: start_line,
                                    message: "extraneous or missing \" in quoted-field",
                                })
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(TokenFileError::Csv {
                            line,
                            message: "extraneous or missing \" in quoted-field",
                        });
                    }
                }
                Some('"') => {
                    return Err(TokenFileError::Csv {
                        line,
                        message: "bare \" in non-quoted-field",
                    })
                }
                Some(c) => field.push(c),
            }
        }
        records.push((start_line, record));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
31ada4fd-adec-460c-809a-9e56ceb75269,alice,1001,\"system:masters,dev\"\n\
\n\
viewertoken,bob,1002,bramble:viewers\n\
plaintoken,carol,1003\r\n\
,nobody,1004\n\
viewertoken,bobby,1005,\"say \"\"hi\"\"\"\n";

    #[test]
    fn parses_quoted_groups_and_later_duplicates_win() {
        let tokens = TokenAuthenticator::from_csv(FILE).unwrap();
        assert_eq!(tokens.len(), 3);
        let alice = tokens
            .authenticate("31ada4fd-adec-460c-809a-9e56ceb75269")
            .unwrap();
        assert_eq!(alice.user, "alice");
        assert_eq!(
            alice.groups,
            vec!["system:masters", "dev", "system:authenticated"]
        );
        let bob = tokens.authenticate("viewertoken").unwrap();
        assert_eq!(bob.user, "bobby");
        assert_eq!(bob.groups, vec!["say \"hi\"", "system:authenticated"]);
        let carol = tokens.authenticate("plaintoken").unwrap();
        assert_eq!(carol.groups, vec!["system:authenticated"]);
    }

    #[test]
    fn unknown_and_empty_tokens_are_rejected() {
        let tokens = TokenAuthenticator::from_csv(FILE).unwrap();
        assert!(tokens.authenticate("plaintokeN").is_none());
        assert!(tokens.authenticate("plaintoke").is_none());
        assert!(tokens.authenticate("").is_none());
    }

    #[test]
    fn too_few_columns_names_the_line() {
        let err = TokenAuthenticator::from_csv("a,b,c\nshort,user\n").unwrap_err();
        assert!(
            matches!(err, TokenFileError::TooFewColumns { line: 2, found: 2 }),
            "{err}"
        );
    }

    #[test]
    fn bare_quote_is_a_parse_error() {
        let err = TokenAuthenticator::from_csv("to\"ken,user,uid\n").unwrap_err();
        assert!(matches!(err, TokenFileError::Csv { line: 1, .. }), "{err}");
    }

    #[test]
    fn formatted_records_parse_back() {
        let line = format_token_record(
            "abc.def",
            "system:node:pi-2",
            "pi-2",
            &["system:nodes", "x"],
        );
        assert_eq!(line, "abc.def,system:node:pi-2,pi-2,\"system:nodes,x\"\n");
        let tokens = TokenAuthenticator::from_csv(&line).unwrap();
        let who = tokens.authenticate("abc.def").unwrap();
        assert_eq!(
            who.groups,
            vec!["system:nodes", "x", "system:authenticated"]
        );
    }

    #[test]
    fn generated_tokens_have_bootstrap_shape_and_differ() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        let (id, secret) = a.split_once('.').unwrap();
        assert_eq!(id.len(), 6);
        assert_eq!(secret.len(), 16);
        assert!(a
            .chars()
            .all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
