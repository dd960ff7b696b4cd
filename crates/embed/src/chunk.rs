//! Splitting a long text into overlapping chunks that each fit the model.
//!
//! The planner works on token spans (byte offsets into the text plus the pre-tokenizer's word
//! index), so it needs no tokenizer itself and is unit-tested with a toy one. Cuts fall between
//! words, never inside one, unless a single word is longer than a chunk; among the word
//! boundaries in the second half of a window it prefers, in order, line breaks and sentence
//! ends, then clause punctuation, then any word boundary. Every chunk is re-counted with the
//! real tokenizer and shrunk if re-tokenizing it gives more than `max_tokens` tokens.

use crate::EmbedError;

/// Where one model token sits in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSpan {
    /// Byte offset of the token's first character.
    pub start: usize,
    /// Byte offset just past the token's last character.
    pub end: usize,
    /// Index of the pre-tokenizer word the token belongs to (tokens of one word share it).
    pub word: Option<u32>,
}

const SENTENCE_END: &[char] = &['.', '!', '?', '…', '。', '！', '？', '．'];
const SENTENCE_END_NO_SPACE: &[char] = &['。', '！', '？'];
const CLAUSE_END: &[char] = &[',', ';', ':', '，', '；', '：', '、', ')', ']', '"', '\''];

/// Plans the chunks of `text` from its token spans.
///
/// `count` returns the number of model tokens (without special tokens) of a piece of text; it
/// is used to check each chunk after cutting.
pub fn plan_chunks(
    text: &str,
    tokens: &[TokenSpan],
    max_tokens: usize,
    overlap: usize,
    count: &mut dyn FnMut(&str) -> Result<usize, EmbedError>,
) -> Result<Vec<String>, EmbedError> {
    check_chunk_args(max_tokens, overlap)?;
    let n = tokens.len();
    let mut chunks = Vec::new();
    if n == 0 {
        return Ok(chunks);
    }
    let plan = Planner { text, tokens };
    let mut start = 0usize;
    loop {
        let window_end = (start + max_tokens).min(n);
        let mut cut = if window_end == n {
            n
        } else {
            plan.best_cut(start, window_end, max_tokens)
        };

        // Re-tokenizing a piece may not give back exactly the tokens it was cut from.
        let mut piece = plan.slice(start, cut);
        while cut > start + 1 && count(piece)? > max_tokens {
            cut = plan.previous_word_start(start, cut).unwrap_or(cut - 1);
            piece = plan.slice(start, cut);
        }
        if cut == start + 1 {
            // One token that re-tokenizes into too many (only possible for tiny max_tokens):
            // keep the longest prefix that fits, at least one character.
            let mut end = piece.len();
            while count(&piece[..end])? > max_tokens {
                match piece[..end].char_indices().last() {
                    Some((i, _)) if i > 0 => end = i,
                    _ => break,
                }
            }
            piece = &piece[..end];
        }
        if !piece.is_empty() {
            chunks.push(piece.to_string());
        }
        if cut >= n {
            break;
        }
        start = plan.next_start(start, cut, overlap);
    }
    Ok(chunks)
}

pub(crate) fn check_chunk_args(max_tokens: usize, overlap: usize) -> Result<(), EmbedError> {
    if max_tokens == 0 {
        return Err(EmbedError::InvalidArgument("chunk size must be at least 1 token".into()));
    }
    if overlap >= max_tokens {
        return Err(EmbedError::InvalidArgument(format!(
            "chunk overlap ({overlap} tokens) must be smaller than the chunk size ({max_tokens} tokens)"
        )));
    }
    Ok(())
}

struct Planner<'a> {
    text: &'a str,
    tokens: &'a [TokenSpan],
}

impl<'a> Planner<'a> {
    fn token_text(&self, i: usize) -> &'a str {
        let t = self.tokens[i];
        self.text.get(t.start..t.end).unwrap_or("")
    }

    /// The text between token `c - 1` and token `c`.
    fn gap(&self, c: usize) -> &'a str {
        let (a, b) = (self.tokens[c - 1].end, self.tokens[c].start);
        if a < b {
            self.text.get(a..b).unwrap_or("")
        } else {
            ""
        }
    }

    /// True when a chunk may start at token `c` without splitting a word.
    fn is_word_start(&self, c: usize) -> bool {
        if c == 0 || c >= self.tokens.len() {
            return true;
        }
        match (self.tokens[c - 1].word, self.tokens[c].word) {
            (Some(a), Some(b)) => a != b,
            _ => self.tokens[c].start >= self.tokens[c - 1].end && !self.gap(c).is_empty(),
        }
    }

    /// How good a place the boundary before token `c` is to cut: -1 inside a word, 0 between
    /// words, 1 after clause punctuation, 2 at a sentence end or line break.
    fn cut_score(&self, c: usize) -> i32 {
        if !self.is_word_start(c) {
            return -1;
        }
        let gap = self.gap(c);
        if gap.contains('\n') {
            return 2;
        }
        let prev = self.token_text(c - 1);
        let last = prev.chars().last();
        let spaced = !gap.is_empty();
        match last {
            Some(ch) if SENTENCE_END_NO_SPACE.contains(&ch) => 2,
            Some(ch) if spaced && SENTENCE_END.contains(&ch) => 2,
            Some(ch) if spaced && CLAUSE_END.contains(&ch) => 1,
            Some('，' | '、' | '；') => 1,
            _ => 0,
        }
    }

    /// The cut for a window `[start, window_end)` that does not reach the end of the text.
    fn best_cut(&self, start: usize, window_end: usize, max_tokens: usize) -> usize {
        // Only the second half of the window is considered, so chunks do not get tiny.
        let low = (start + (max_tokens / 2).max(1)).min(window_end);
        let mut best: Option<(i32, usize)> = None;
        for c in low..=window_end {
            let score = self.cut_score(c);
            if score >= 0 && best.is_none_or(|(s, _)| score >= s) {
                best = Some((score, c));
            }
        }
        if let Some((_, c)) = best {
            return c;
        }
        // No word boundary in the second half: take the last one in the first half...
        if let Some(c) = (start + 1..low).rev().find(|&c| self.is_word_start(c)) {
            return c;
        }
        // ...or cut inside a word longer than the whole window.
        window_end
    }

    fn previous_word_start(&self, start: usize, cut: usize) -> Option<usize> {
        (start + 1..cut).rev().find(|&c| self.is_word_start(c))
    }

    /// First token of the next chunk: about `overlap` tokens before `cut`, on a word start,
    /// always after `start` so the planner moves forward.
    fn next_start(&self, start: usize, cut: usize, overlap: usize) -> usize {
        if overlap == 0 {
            return cut;
        }
        let target = cut.saturating_sub(overlap).max(start + 1);
        // Rather start on a word than on the punctuation after one.
        let starts_word = |c: usize| self.token_text(c).chars().next().is_some_and(char::is_alphanumeric);
        (target..cut)
            .find(|&c| self.is_word_start(c) && starts_word(c))
            .or_else(|| (target..cut).find(|&c| self.is_word_start(c)))
            .unwrap_or(cut)
    }

    /// The text covered by tokens `[from, to)`.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        let span = &self.tokens[from..to];
        let mut a = span.iter().map(|t| t.start).min().unwrap_or(0).min(self.text.len());
        let mut b = span.iter().map(|t| t.end).max().unwrap_or(0).min(self.text.len());
        while a > 0 && !self.text.is_char_boundary(a) {
            a -= 1;
        }
        while b < self.text.len() && !self.text.is_char_boundary(b) {
            b += 1;
        }
        self.text.get(a..b.max(a)).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy tokenizer: words split on whitespace, punctuation as separate words, and every
    /// word longer than 4 bytes split into 4-byte pieces (like WordPiece's ## continuations).
    fn toy_tokens(text: &str) -> Vec<TokenSpan> {
        let mut out = Vec::new();
        let mut word = 0u32;
        let mut push_word = |s: usize, e: usize, out: &mut Vec<TokenSpan>| {
            let mut p = s;
            while p < e {
                let mut q = (p + 4).min(e);
                while !text.is_char_boundary(q) {
                    q += 1;
                }
                out.push(TokenSpan {
                    start: p,
                    end: q,
                    word: Some(word),
                });
                p = q;
            }
            word += 1;
        };
        let mut ws: Option<usize> = None;
        for (i, ch) in text.char_indices() {
            if ch.is_whitespace() || ch.is_ascii_punctuation() {
                if let Some(s) = ws.take() {
                    push_word(s, i, &mut out);
                }
                if ch.is_ascii_punctuation() {
                    push_word(i, i + ch.len_utf8(), &mut out);
                }
            } else if ws.is_none() {
                ws = Some(i);
            }
        }
        if let Some(s) = ws {
            push_word(s, text.len(), &mut out);
        }
        out
    }

    fn toy_count(text: &str) -> Result<usize, EmbedError> {
        Ok(toy_tokens(text).len())
    }

    fn chunks(text: &str, max: usize, overlap: usize) -> Vec<String> {
        plan_chunks(text, &toy_tokens(text), max, overlap, &mut toy_count).unwrap()
    }

    fn sample_text() -> String {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(&format!("Sentence number {i} talks about topic {} in a few words. ", i % 7));
            if i % 9 == 8 {
                s.push('\n');
            }
        }
        s
    }

    #[test]
    fn every_chunk_fits_the_token_budget() {
        let text = sample_text();
        for (max, overlap) in [(8, 0), (8, 3), (16, 4), (33, 10), (200, 20)] {
            for c in chunks(&text, max, overlap) {
                assert!(toy_count(&c).unwrap() <= max, "chunk {c:?} exceeds {max}");
            }
        }
    }

    #[test]
    fn chunks_cover_the_text_in_order() {
        let text = sample_text();
        let parts = chunks(&text, 16, 0);
        // Without overlap, gluing the chunks back (modulo whitespace) gives the text back.
        let glued: String = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        let original: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(glued, original);
        // And each chunk appears in the text after the previous one.
        let mut pos = 0;
        for p in &parts {
            let found = text[pos..].find(p.as_str()).expect("chunk not found in order") + pos;
            pos = found + p.len();
        }
    }

    #[test]
    fn consecutive_chunks_overlap_by_about_the_requested_tokens() {
        let text = sample_text();
        let parts = chunks(&text, 20, 5);
        assert!(parts.len() > 3);
        for pair in parts.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            // the longest suffix of a that is a prefix of b
            let shared = (1..=a.len().min(b.len()))
                .rev()
                .find(|&k| a.is_char_boundary(a.len() - k) && b.is_char_boundary(k) && a[a.len() - k..] == b[..k])
                .map(|k| toy_count(&b[..k]).unwrap())
                .unwrap_or(0);
            assert!((1..=5).contains(&shared), "overlap of {shared} tokens between {a:?} and {b:?}");
        }
    }

    #[test]
    fn cuts_prefer_sentence_ends() {
        let text = "One two three four five six. Seven eight nine ten eleven twelve thirteen fourteen.";
        let parts = chunks(text, 10, 0);
        assert_eq!(parts[0], "One two three four five six.");
        assert!(parts[1].starts_with("Seven"));
    }

    #[test]
    fn cuts_never_split_a_word_when_a_boundary_exists() {
        // "internationalization" is 5 toy tokens; a window of 7 must not cut inside it.
        let text = "a b c d internationalization e f g h";
        for c in chunks(text, 7, 0) {
            assert!(!c.starts_with("aliz") && !c.ends_with("intern"), "split word in {c:?}");
        }
    }

    #[test]
    fn a_word_longer_than_a_chunk_is_cut_inside() {
        let text = "x".repeat(40); // 10 toy tokens, one word
        let parts = chunks(&text, 3, 0);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| toy_count(p).unwrap() <= 3));
    }

    #[test]
    fn short_text_is_one_chunk_and_empty_text_none() {
        assert_eq!(chunks("  hello world  ", 10, 2), vec!["hello world".to_string()]);
        assert!(chunks("", 10, 2).is_empty());
        assert!(chunks(" \n\t ", 10, 2).is_empty());
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let text = "東京は日本の首都です。 大阪は食べ物で有名です。 京都には古いお寺がたくさんあります。".repeat(5);
        for c in chunks(&text, 6, 2) {
            assert!(toy_count(&c).unwrap() <= 6);
        }
    }

    #[test]
    fn invalid_chunk_arguments_are_rejected_with_a_message() {
        let err = plan_chunks("a b", &toy_tokens("a b"), 0, 0, &mut toy_count).unwrap_err();
        assert!(err.to_string().contains("at least 1 token"));
        let err = plan_chunks("a b", &toy_tokens("a b"), 4, 4, &mut toy_count).unwrap_err();
        assert!(err.to_string().contains("must be smaller than the chunk size"));
        assert_eq!(err.sqlstate(), "22023");
    }

    #[test]
    fn chunking_always_terminates_and_makes_progress() {
        let text = sample_text();
        for max in 1..12 {
            for overlap in 0..max {
                let parts = chunks(&text, max, overlap);
                assert!(!parts.is_empty());
                assert!(parts.len() <= toy_tokens(&text).len());
            }
        }
    }
}
