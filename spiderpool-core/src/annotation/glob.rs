//! Pool-name wildcards with the semantics of Go's `path.Match`.
//!
//! - `*` matches any run of characters except `/`; `?` one character except `/`;
//! - `[abc]`, `[a-z]`, `[^a-z]` match one character in (or not in) the class;
//!   only `^` negates (`[!a]` is the class `!`, `a`, as in Go);
//! - `\c` matches `c` literally, also inside a class;
//! - a malformed pattern (`[a`, `[]`, `[-a]`, `[a-]`, trailing `\`) is an error
//!   even when the name would not match.
//!
//! Matching follows Go's algorithm: each star-prefixed chunk is matched at its
//! leftmost possible position. That is `O(len(pattern) × len(name))`, with no
//! exponential backtracking. Characters are Unicode scalar values (Go compares
//! bytes; the two agree on valid UTF-8 except for contrived `?`-after-`*`
//! patterns against multi-byte characters, which pool names never contain).

/// A pool-name glob is malformed (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The pattern is not a valid glob.
    #[error("syntax error in pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The offending pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// True when `name` contains a wildcard character (`*`, `?` or `[`) and so is
/// expanded against the existing pools rather than used as a literal name.
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// One single-character matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Exactly this character.
    Lit(char),
    /// `?`: any character except `/`.
    Any,
    /// `[...]`: inclusive ranges; `negated` for `[^...]`. May match `/` (as in Go).
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Lit(l) => *l == c,
            Self::Any => c != '/',
            Self::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A run of tokens, optionally preceded by a star.
#[derive(Debug, Default)]
struct Chunk {
    star: bool,
    tokens: Vec<Token>,
}

/// Reads one class element at `*j` (Go's `getEsc`): an unescaped `-` or `]`
/// is an error, `\` escapes, and something must follow the element.
fn class_char(
    p: &[char],
    j: &mut usize,
    bad: &dyn Fn(&str) -> GlobError,
) -> Result<char, GlobError> {
    match p.get(*j) {
        None => return Err(bad("unterminated character class")),
        Some('-') => return Err(bad("unescaped '-' in character class")),
        Some(']') => return Err(bad("empty character class or unescaped ']'")),
        Some('\\') => *j += 1,
        Some(_) => {}
    }
    let Some(&c) = p.get(*j) else {
        return Err(bad("unterminated character class"));
    };
    *j += 1;
    if *j >= p.len() {
        return Err(bad("unterminated character class"));
    }
    Ok(c)
}

/// Parses and validates the whole pattern into star-separated chunks.
fn compile(pattern: &str) -> Result<Vec<Chunk>, GlobError> {
    let bad = |reason: &str| GlobError::BadPattern {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    let p: Vec<char> = pattern.chars().collect();
    let mut chunks = Vec::new();
    let mut cur = Chunk::default();
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        i += 1;
        let token = match c {
            '*' => {
                if !cur.tokens.is_empty() {
                    chunks.push(std::mem::take(&mut cur));
                }
                cur.star = true;
                continue;
            }
            '?' => Token::Any,
            '\\' => {
                let Some(&esc) = p.get(i) else {
                    return Err(bad("trailing backslash"));
                };
                i += 1;
                Token::Lit(esc)
            }
            '[' => {
                let negated = p.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    if p.get(i) == Some(&']') && !ranges.is_empty() {
                        i += 1;
                        break;
                    }
                    let lo = class_char(&p, &mut i, &bad)?;
                    let hi = if p.get(i) == Some(&'-') {
                        i += 1;
                        class_char(&p, &mut i, &bad)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            other => Token::Lit(other),
        };
        cur.tokens.push(token);
    }
    if cur.star || !cur.tokens.is_empty() {
        chunks.push(cur);
    }
    Ok(chunks)
}

/// Matches `tokens` at the start of `s`; returns how many characters they used.
fn match_chunk(tokens: &[Token], s: &[char]) -> Option<usize> {
    if tokens.len() > s.len() {
        return None;
    }
    tokens.iter().zip(s).all(|(t, &c)| t.matches(c)).then_some(tokens.len())
}

/// Shell-glob match of `name` against `pattern`, exactly as Go's
/// `path.Match(pattern, name)` (see the module docs). A malformed pattern is
/// [`GlobError::BadPattern`] whatever the name.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, GlobError> {
    let chunks = compile(pattern)?;
    let name: Vec<char> = name.chars().collect();
    let mut pos = 0;
    for (ci, chunk) in chunks.iter().enumerate() {
        let last = ci + 1 == chunks.len();
        let rest = &name[pos..];
        if chunk.star && chunk.tokens.is_empty() {
            // trailing star: matches the rest unless it contains a '/'
            return Ok(!rest.contains(&'/'));
        }
        if let Some(n) = match_chunk(&chunk.tokens, rest)
            && (n == rest.len() || !last)
        {
            pos += n;
            continue;
        }
        if !chunk.star {
            return Ok(false);
        }
        // the star absorbs rest[..=skip], never crossing a '/'
        let found = (0..rest.len()).take_while(|&skip| rest[skip] != '/').find_map(|skip| {
            let n = match_chunk(&chunk.tokens, &rest[skip + 1..])?;
            (!last || skip + 1 + n == rest.len()).then_some(skip + 1 + n)
        });
        match found {
            Some(used) => pos += used,
            None => return Ok(false),
        }
    }
    Ok(pos == name.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// Go's `path.Match` test table (`src/path/match_test.go`), plus a few more.
    #[test]
    fn go_path_match_table() {
        let ok: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
            // more: pool-name usage and Go specifics
            ("", "", true),
            ("", "a", false),
            ("pool-*", "pool-v4-1", true),
            ("pool-*", "pool", false),
            ("*-v6", "default-v6", true),
            ("p?ol", "pool", true),
            ("p?ol", "pl", false),
            ("**", "abc", true),
            ("a**c", "abc", true),
            ("[!a]", "!", true), // Go: '!' is not a negation
            ("[!a]", "b", false),
            ("[z-a]", "m", false), // inverted range never matches, not an error
            ("[*]", "*", true),
            ("[?]", "x", false),
            ("]", "]", true),
            ("a]b", "a]b", true),
            ("[/]", "/", true),        // classes may match '/'
            ("*[/a]*x", "a/x", false), // Go's leftmost-chunk rule, not full backtracking
            ("ab", "abc", false),
            ("abc", "ab", false),
            ("*b", "abcb", true),
        ];
        for &(p, n, want) in ok {
            assert_eq!(glob_match(p, n), Ok(want), "pattern {p:?} name {n:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("[]a]", "]"),
            ("[-]", "-"),
            ("[x-]", "x"),
            ("[x-]", "-"),
            ("[x-]", "z"),
            ("[-x]", "x"),
            ("[-x]", "-"),
            ("[-x]", "a"),
            ("\\", "a"),
            ("[a-b-c]", "a"),
            ("[", "a"),
            ("[^", "a"),
            ("[^bc", "a"),
            ("a[", "a"),
            ("a[", "ab"),
            ("a[", "x"),
            ("a/b[", "x"),
            // malformed after an early mismatch is still an error (Go ≥ 1.16)
            ("x*[", "abc"),
            ("[]", ""),
            ("[^]", "a"),
            ("[a\\]", "a"),
            ("ab\\", "ab"),
        ];
        for &(p, n) in bad {
            let err = glob_match(p, n).unwrap_err();
            let GlobError::BadPattern { pattern, .. } = &err;
            assert_eq!(pattern, p);
            assert!(err.to_string().starts_with("syntax error in pattern"), "{err}");
        }
    }

    #[test]
    fn is_glob_cases() {
        for (n, want) in [
            ("pool", false),
            ("pool-*", true),
            ("p?ol", true),
            ("p[0-9]", true),
            ("a]b", false),
            ("", false),
        ] {
            assert_eq!(is_glob(n), want, "{n}");
        }
    }

    #[test]
    fn long_inputs_are_fast() {
        // classic exponential trap for naive backtracking
        let name = "a".repeat(5000);
        let pattern = format!("{}b", "a*".repeat(200));
        assert_eq!(glob_match(&pattern, &name), Ok(false));
        let pattern = format!("{}a", "*".repeat(1000));
        assert_eq!(glob_match(&pattern, &name), Ok(true));
    }

    /// Simple recursive matcher for bracket-free patterns (reference semantics).
    fn reference(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => {
                for k in 0..=s.len() {
                    if k > 0 && s[k - 1] == '/' {
                        break;
                    }
                    if reference(&p[1..], &s[k..]) {
                        return true;
                    }
                }
                false
            }
            Some('?') => s.first().is_some_and(|&c| c != '/') && reference(&p[1..], &s[1..]),
            Some('\\') => p.len() > 1 && s.first() == Some(&p[1]) && reference(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && reference(&p[1..], &s[1..]),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn agrees_with_reference_without_brackets(
            pattern in "([ab/*?]|\\\\[ab*?]){0,8}",
            name in "[ab/*?]{0,10}",
        ) {
            let p: Vec<char> = pattern.chars().collect();
            let s: Vec<char> = name.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &name), Ok(reference(&p, &s)));
        }

        #[test]
        fn arbitrary_patterns_terminate(pattern in "[a-c*?\\[\\]^\\\\/-]{0,24}", name in "[a-c/-]{0,40}") {
            let _ = glob_match(&pattern, &name);
        }

        #[test]
        fn literal_names_match_themselves(name in "[a-z0-9.-]{0,20}") {
            prop_assert!(!is_glob(&name));
            prop_assert_eq!(glob_match(&name, &name), Ok(true));
        }
    }
}
