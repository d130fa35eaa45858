//! The LSP base protocol's framing, read tolerantly: `Content-Length: N` (other headers are
//! ignored), a blank line, then `N` bytes of UTF-8 JSON. A frame that is wrong in a way the
//! reader can step over — a header line that is not one, no length, a body too big or not
//! UTF-8 — is reported as [`Frame::Malformed`] and reading goes on with the next frame; only
//! the end of input (or a pipe error) ends the reading.

use std::io::{self, BufRead, Read};

/// The largest message body read (a bigger one is skipped and reported).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The longest header line read (a longer one is skipped and reported).
const MAX_HEADER_LINE: usize = 8 * 1024;

/// One frame read from the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message body (not yet parsed).
    Message(String),
    /// A frame that could not be read as one; what was wrong. Reading can go on.
    Malformed(String),
    /// The input ended (cleanly between frames, or in the middle of one).
    End,
}

/// Reads the next frame.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<usize> = None;
    let mut problem: Option<String> = None;
    let mut headers = 0;
    loop {
        let line = match read_header_line(input)? {
            HeaderLine::End => return Ok(Frame::End),
            HeaderLine::TooLong => {
                problem.get_or_insert_with(|| {
                    format!("a header line longer than {MAX_HEADER_LINE} bytes")
                });
                headers += 1;
                continue;
            }
            HeaderLine::Text(line) => line,
        };
        if line.is_empty() {
            if headers == 0 {
                continue; // a stray blank line between frames
            }
            break;
        }
        headers += 1;
        if line.starts_with('{') || line.starts_with('[') {
            // The usual mistake: a client writing bare JSON lines.
            return Ok(Frame::Malformed(
                "a message without headers: frame each message as `Content-Length: N`, a blank \
                 line, then N bytes of JSON (the LSP base protocol)"
                    .into(),
            ));
        }
        match line.split_once(':') {
            Some((name, value)) if is_token(name) => {
                if name.eq_ignore_ascii_case("content-length") {
                    match value.trim().parse::<usize>() {
                        Ok(n) => length = Some(n),
                        Err(_) => {
                            problem.get_or_insert_with(|| {
                                format!("Content-Length `{}` is not a number", value.trim())
                            });
                        }
                    }
                }
            }
            _ => {
                problem.get_or_insert_with(|| format!("`{}` is not a header", clip(&line)));
            }
        }
    }
    let Some(length) = length else {
        return Ok(Frame::Malformed(problem.unwrap_or_else(|| {
            "a message without a Content-Length header".into()
        })));
    };
    if length > MAX_MESSAGE {
        let skipped = io::copy(&mut input.take(length as u64), &mut io::sink())?;
        if skipped < length as u64 {
            return Ok(Frame::End);
        }
        return Ok(Frame::Malformed(format!(
            "a message of {length} bytes: the limit is {MAX_MESSAGE}"
        )));
    }
    let mut body = vec![0; length];
    if let Err(e) = input.read_exact(&mut body) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => Ok(Frame::End),
            _ => Err(e),
        };
    }
    if let Some(problem) = problem {
        return Ok(Frame::Malformed(problem));
    }
    match String::from_utf8(body) {
        Ok(text) => Ok(Frame::Message(text)),
        Err(_) => Ok(Frame::Malformed("a message body that is not UTF-8".into())),
    }
}

/// Writes `body` as one frame (and flushes).
pub fn write_frame(output: &mut impl io::Write, body: &str) -> io::Result<()> {
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(body.as_bytes())?;
    output.flush()
}

enum HeaderLine {
    Text(String),
    TooLong,
    End,
}

/// One header line without its `\r\n` (a bare `\n` is accepted too), at most
/// [`MAX_HEADER_LINE`] bytes: the rest of a longer one is read and dropped.
fn read_header_line(input: &mut impl BufRead) -> io::Result<HeaderLine> {
    let mut line = Vec::new();
    let read = input
        .by_ref()
        .take(MAX_HEADER_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(HeaderLine::End);
    }
    if line.last() != Some(&b'\n') {
        if line.len() <= MAX_HEADER_LINE {
            return Ok(HeaderLine::End); // the input ended inside a header
        }
        // Too long: drop up to the end of the line.
        let mut rest = Vec::new();
        if input.read_until(b'\n', &mut rest)? == 0 {
            return Ok(HeaderLine::End);
        }
        return Ok(HeaderLine::TooLong);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(HeaderLine::Text(
        String::from_utf8_lossy(&line).into_owned(),
    ))
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn clip(text: &str) -> String {
    let clipped: String = text.chars().take(40).collect();
    if clipped.len() < text.len() {
        format!("{clipped}…")
    } else {
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            let frame = read_frame(&mut reader).unwrap();
            let end = frame == Frame::End;
            out.push(frame);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn frames_are_read_one_after_the_other() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, "{\"a\":1}").unwrap();
        write_frame(&mut bytes, "{\"b\":\"é\"}").unwrap();
        assert_eq!(
            frames(&bytes),
            [
                Frame::Message("{\"a\":1}".into()),
                Frame::Message("{\"b\":\"é\"}".into()),
                Frame::End
            ]
        );
    }

    #[test]
    fn other_headers_and_bare_newlines_are_accepted() {
        let input =
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\ncontent-length: 2\n\n{}";
        assert_eq!(frames(input), [Frame::Message("{}".into()), Frame::End]);
    }

    #[test]
    fn a_bad_frame_is_reported_and_the_next_one_read() {
        let mut input = b"Content-Length: x\r\n\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        input.extend_from_slice(b"Nonsense here\r\nContent-Length: 1\r\n\r\n1");
        input.extend_from_slice(b"Content-Length: 2\r\n\r\n\xff\xfe");
        let got = frames(&input);
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("not a number")),
            "{got:?}"
        );
        assert_eq!(got[1], Frame::Message("{}".into()));
        assert!(matches!(&got[2], Frame::Malformed(m) if m.contains("is not a header")));
        assert!(matches!(&got[3], Frame::Malformed(m) if m.contains("UTF-8")));
        assert_eq!(got[4], Frame::End);
    }

    #[test]
    fn bare_json_lines_get_a_message_that_says_how_to_frame() {
        let got = frames(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n");
        assert!(matches!(&got[0], Frame::Malformed(m) if m.contains("Content-Length: N")));
    }

    #[test]
    fn a_frame_cut_off_ends_the_input() {
        assert_eq!(frames(b"Content-Length: 10\r\n\r\n{\"a\""), [Frame::End]);
        assert_eq!(frames(b"Content-Len"), [Frame::End]);
        assert_eq!(frames(b""), [Frame::End]);
    }

    #[test]
    fn an_endless_header_line_is_skipped() {
        let mut input = vec![b'x'; MAX_HEADER_LINE * 3];
        input.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]");
        let got = frames(&input);
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("longer than")),
            "{got:?}"
        );
        assert_eq!(got[1], Frame::Message("[]".into()));
    }
}
