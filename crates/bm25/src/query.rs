//! The OR query over a query's lexemes, in `tsquery` text syntax.

/// Quote one lexeme for `tsquery` input: inside single quotes, a quote is doubled and a backslash
/// escaped, so any lexeme (spaces, `|`, `&`, `:`, quotes) stays one operand.
pub fn quote_lexeme(lexeme: &str) -> String {
    let mut out = String::with_capacity(lexeme.len() + 2);
    out.push('\'');
    for c in lexeme.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'a' | 'b' | ...`: matches documents containing any of the lexemes. Empty lexemes are skipped
/// (a tsvector cannot hold them); an empty result means the query has no searchable lexeme.
pub fn or_tsquery_text<'a>(lexemes: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for lex in lexemes.into_iter().filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(&quote_lexeme(lex));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexemes_are_quoted_and_joined_with_or() {
        assert_eq!(or_tsquery_text(["cat", "dog"]), "'cat' | 'dog'");
        assert_eq!(or_tsquery_text(["one"]), "'one'");
        assert_eq!(or_tsquery_text(Vec::<&str>::new()), "");
        assert_eq!(or_tsquery_text(["", "x", ""]), "'x'");
    }

    #[test]
    fn quotes_backslashes_and_operators_stay_inside_one_operand() {
        assert_eq!(quote_lexeme("o'neil"), "'o''neil'");
        assert_eq!(quote_lexeme("a\\b"), "'a\\\\b'");
        assert_eq!(quote_lexeme("a | b & !c:*"), "'a | b & !c:*'");
        assert_eq!(quote_lexeme("naïve"), "'naïve'");
    }
}
