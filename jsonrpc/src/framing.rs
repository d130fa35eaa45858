//! The LSP base protocol's framing, read so that no input can take the reader's memory or its
//! place in the stream: `Content-Length: N` (other headers are ignored), a blank line, then `N`
//! bytes of UTF-8 JSON.
//!
//! Bounds: a header line is at most [`MAX_HEADER_LINE`] bytes kept (the rest of a longer one is
//! dropped as it streams by, its last bytes kept to find a header at its end), a frame at most
//! [`MAX_MESSAGE`] bytes, and a frame at most [`MAX_HEADERS`] header lines.
//!
//! A frame that is wrong — no length, a length that is not a plain decimal number, two
//! lengths, a length over the limit, a line that is not a header — is reported as
//! [`Frame::Malformed`], and the reader then **gets back in step**: it drops bytes until the
//! next line that holds a `Content-Length:` header (at its start, or after junk on the same
//! line, as when a body was shorter than its declared length and the next frame's header
//! follows it at once), and reads on from that header. A body whose JSON turns out wrong can
//! be handed back with [`FrameReader::resync_after`]: when it holds a `Content-Length:` header
//! (its declared length was too long and it swallowed the next frame's start), reading goes on
//! from there. Only the end of input (or a pipe error) ends the reading; the reader never
//! waits for bytes a frame did not promise.

use std::io::{self, BufRead, Cursor, Read};

/// The largest message body read (a bigger one is refused, and its bytes skipped while the
/// reader looks for the next frame).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The longest header line kept (the rest of a longer one is dropped as it is read).
pub const MAX_HEADER_LINE: usize = 8 * 1024;

/// The most header lines one frame may have.
pub const MAX_HEADERS: usize = 32;

const CONTENT_LENGTH: &[u8] = b"content-length:";

/// One frame read from the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message body (not yet parsed).
    Message(String),
    /// A frame that could not be read as one; what was wrong. Reading goes on, back in step.
    Malformed(String),
    /// The input ended (cleanly between frames, or in the middle of one).
    End,
}

/// Reads frames from `input`, getting back in step after a bad one.
#[derive(Debug)]
pub struct FrameReader<R> {
    input: R,
    /// Bytes to read before `input`: the start of a frame found inside a line or a body.
    pushback: Cursor<Vec<u8>>,
    /// A bad frame was reported: drop bytes until the next `Content-Length:` header.
    resyncing: bool,
}

enum HeaderLine {
    /// A line (without its line end), at most [`MAX_HEADER_LINE`] bytes.
    Text(Vec<u8>),
    /// A longer line: only its last [`MAX_HEADER_LINE`] bytes are kept.
    Long(Vec<u8>),
    End,
}

impl<R: BufRead> FrameReader<R> {
    /// A reader of `input`.
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            pushback: Cursor::new(Vec::new()),
            resyncing: false,
        }
    }

    /// Reads the next frame.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        if self.resyncing {
            self.resyncing = false;
            if !self.skip_to_frame_start()? {
                return Ok(Frame::End);
            }
        }
        let mut length: Option<usize> = None;
        let mut problem: Option<String> = None;
        let mut headers = 0;
        loop {
            let line = match self.header_line()? {
                HeaderLine::End => return Ok(Frame::End),
                HeaderLine::Long(tail) => {
                    // A body written without headers, or junk; a frame may start at its end.
                    let why = format!("a header line longer than {MAX_HEADER_LINE} bytes");
                    return Ok(self.malformed_before(&tail, why));
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
            if headers > MAX_HEADERS {
                return Ok(self.malformed(format!("more than {MAX_HEADERS} header lines")));
            }
            let Some((name, value)) = header(&line) else {
                // Not a header. A frame may start further on in the line (the rest of a body
                // longer than its declared length, then the next frame's header).
                let why = if line.starts_with(b"{") || line.starts_with(b"[") {
                    "a message without headers: frame each message as `Content-Length: N`, a \
                     blank line, then N bytes of JSON (the LSP base protocol)"
                        .to_owned()
                } else {
                    format!("`{}` is not a header", clip(&line))
                };
                return Ok(self.malformed_before(&line, why));
            };
            if !name.eq_ignore_ascii_case("content-length") {
                continue; // Content-Type and the like: ignored
            }
            match parse_length(value) {
                _ if length.is_some() => {
                    problem.get_or_insert_with(|| "two Content-Length headers".into());
                }
                Some(n) => length = Some(n),
                None => {
                    problem.get_or_insert_with(|| {
                        format!(
                            "Content-Length `{}` is not a length (decimal digits only)",
                            clip(value.trim().as_bytes())
                        )
                    });
                }
            }
        }
        if let Some(problem) = problem {
            return Ok(self.malformed(problem));
        }
        let Some(length) = length else {
            return Ok(self.malformed("a message without a Content-Length header".into()));
        };
        if length > MAX_MESSAGE {
            // Not read: skipping a length nobody checked could swallow the connection.
            return Ok(self.malformed(format!(
                "a message of {length} bytes: the limit is {MAX_MESSAGE} ({} MiB)",
                MAX_MESSAGE / (1024 * 1024)
            )));
        }
        let mut body = vec![0; length];
        if let Err(e) = self.source().read_exact(&mut body) {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof => Ok(Frame::End),
                _ => Err(e),
            };
        }
        match String::from_utf8(body) {
            Ok(text) => Ok(Frame::Message(text)),
            Err(e) => {
                let body = e.into_bytes();
                self.resync_after(&body);
                Ok(Frame::Malformed("a message body that is not UTF-8".into()))
            }
        }
    }

    /// A body that [`read_frame`](Self::read_frame) returned turned out not to be a message
    /// (its JSON is wrong): if it holds the start of the next frame — its declared length was
    /// too long — reading goes on from there; else the reader drops bytes up to the next
    /// `Content-Length:` header.
    pub fn resync_after(&mut self, body: &[u8]) {
        if !self.push_back_frame_start(body, false) {
            self.resyncing = true;
        }
    }

    /// Reports a bad frame and gets ready to find the next one.
    fn malformed(&mut self, why: String) -> Frame {
        self.resyncing = true;
        Frame::Malformed(why)
    }

    /// Reports a bad frame whose last line (`line`, its line end taken off) may hold the next
    /// frame's header after junk: reading goes on from that header, or from the next one.
    fn malformed_before(&mut self, line: &[u8], why: String) -> Frame {
        self.resyncing = !self.push_back_frame_start(line, true);
        Frame::Malformed(why)
    }

    /// The pushback, then the input.
    fn source(&mut self) -> impl BufRead + '_ {
        (&mut self.pushback).chain(&mut self.input)
    }

    /// If `bytes` hold a `Content-Length:` header after their first byte, puts it and what
    /// follows back to be read first, and says so. `line`: `bytes` are a line whose line end
    /// was taken off (it is put back too).
    fn push_back_frame_start(&mut self, bytes: &[u8], line: bool) -> bool {
        let Some(at) = find_content_length(bytes, 1) else {
            return false;
        };
        let mut rest = bytes[at..].to_vec();
        if line {
            rest.push(b'\n');
        }
        let unread = &self.pushback.get_ref()[self.pushback.position() as usize..];
        rest.extend_from_slice(unread);
        self.pushback = Cursor::new(rest);
        true
    }

    /// Drops bytes until a line holding a `Content-Length:` header, and puts that header back
    /// to be read. `false` when the input ended first.
    fn skip_to_frame_start(&mut self) -> io::Result<bool> {
        loop {
            let line = match self.header_line()? {
                HeaderLine::End => return Ok(false),
                HeaderLine::Text(line) | HeaderLine::Long(line) => line,
            };
            if let Some(at) = find_content_length(&line, 0) {
                let mut rest = line[at..].to_vec();
                rest.push(b'\n');
                let unread = &self.pushback.get_ref()[self.pushback.position() as usize..];
                rest.extend_from_slice(unread);
                self.pushback = Cursor::new(rest);
                return Ok(true);
            }
        }
    }

    /// One line without its `\r\n` (a bare `\n` is accepted too). Of a line longer than
    /// [`MAX_HEADER_LINE`] only the last bytes are kept, however long it is.
    fn header_line(&mut self) -> io::Result<HeaderLine> {
        let mut line: Vec<u8> = Vec::new();
        let mut long = false;
        let mut source = self.source();
        loop {
            let available = match source.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(HeaderLine::End); // the input ended inside a line, or between frames
            }
            let (piece, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], at + 1),
                None => (available, available.len()),
            };
            let ended = done > piece.len();
            line.extend_from_slice(piece);
            if line.len() > MAX_HEADER_LINE {
                // Keep the last bytes only: a frame's header may end a long line.
                let cut = line.len() - MAX_HEADER_LINE;
                line.drain(..cut);
                long = true;
            }
            source.consume(done);
            if ended {
                break;
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(if long {
            HeaderLine::Long(line)
        } else {
            HeaderLine::Text(line)
        })
    }
}

/// Reads the next frame from `input` with a reader of its own (for one-shot reads; a
/// connection keeps one [`FrameReader`] so that it can get back in step).
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    FrameReader::new(input).read_frame()
}

/// Writes `body` as one frame (and flushes).
pub fn write_frame(output: &mut impl io::Write, body: &str) -> io::Result<()> {
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(body.as_bytes())?;
    output.flush()
}

/// `Name: value`, the name an RFC 7230 token.
fn header(line: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(line).ok()?;
    let (name, value) = text.split_once(':')?;
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    token.then_some((name, value))
}

/// A length as the protocol writes it: decimal digits (and spaces around), nothing else — no
/// sign, no `0x`, at most 19 digits.
fn parse_length(value: &str) -> Option<usize> {
    let digits = value.trim_matches([' ', '\t']);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where a `Content-Length:` (any case) starts in `bytes`, at or after `from`.
fn find_content_length(bytes: &[u8], from: usize) -> Option<usize> {
    if bytes.len() < CONTENT_LENGTH.len() {
        return None;
    }
    (from..=bytes.len() - CONTENT_LENGTH.len())
        .find(|&at| bytes[at..at + CONTENT_LENGTH.len()].eq_ignore_ascii_case(CONTENT_LENGTH))
}

fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let clipped: String = text.chars().take(40).collect();
    let clipped = clipped.escape_debug().to_string();
    if text.chars().count() > 40 {
        format!("{clipped}…")
    } else {
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = FrameReader::new(io::BufReader::new(input));
        let mut out = Vec::new();
        loop {
            let frame = reader.read_frame().unwrap();
            let end = frame == Frame::End;
            out.push(frame);
            if end {
                return out;
            }
        }
    }

    fn frame(body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, body).unwrap();
        out
    }

    const GOOD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#;

    /// Reads `input` then five good frames; says how many of the five came through.
    fn good_ones_after(input: &[u8]) -> usize {
        let mut bytes = input.to_vec();
        for _ in 0..5 {
            bytes.extend(frame(GOOD));
        }
        frames(&bytes)
            .iter()
            .filter(|f| **f == Frame::Message(GOOD.into()))
            .count()
    }

    #[test]
    fn frames_are_read_one_after_the_other() {
        let mut bytes = frame("{\"a\":1}");
        bytes.extend(frame("{\"b\":\"é\"}"));
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
        input.extend(frame("[]"));
        let got = frames(&input);
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("not a length")),
            "{got:?}"
        );
        assert_eq!(got[1], Frame::Message("{}".into()));
        assert!(matches!(&got[2], Frame::Malformed(m) if m.contains("is not a header")));
        assert_eq!(got[3], Frame::Message("1".into()));
        assert!(matches!(&got[4], Frame::Malformed(m) if m.contains("UTF-8")));
        assert_eq!(got[5], Frame::Message("[]".into()));
        assert_eq!(got[6], Frame::End);
    }

    #[test]
    fn a_negative_or_signed_length_is_refused_and_the_stream_recovers() {
        for bad in ["-5", "+5", "0x10", "5 5", "1e3", "99999999999999999999999"] {
            let input = format!("Content-Length: {bad}\r\n\r\n{GOOD}");
            let got = frames(input.as_bytes());
            assert!(
                matches!(&got[0], Frame::Malformed(m) if m.contains("not a length")),
                "{bad}: {got:?}"
            );
            assert_eq!(good_ones_after(input.as_bytes()), 5, "{bad}");
        }
    }

    #[test]
    fn a_length_shorter_than_its_body_costs_that_frame_only() {
        let input = format!("Content-Length: 10\r\n\r\n{GOOD}");
        let mut reader = FrameReader::new(io::BufReader::new(input.as_bytes()));
        let Frame::Message(cut) = reader.read_frame().unwrap() else {
            panic!("a frame of 10 bytes")
        };
        assert_eq!(cut, &GOOD[..10]);
        // Its JSON is wrong: handed back, the rest of it is skipped.
        reader.resync_after(cut.as_bytes());
        assert_eq!(reader.read_frame().unwrap(), Frame::End);
        // And with frames after it, each of them arrives (the junk before the next header is
        // reported once).
        let mut bytes = input.into_bytes();
        for _ in 0..5 {
            bytes.extend(frame(GOOD));
        }
        let mut reader = FrameReader::new(io::BufReader::new(&bytes[..]));
        let mut good = 0;
        let mut bad = 0;
        loop {
            match reader.read_frame().unwrap() {
                Frame::Message(m) if m == GOOD => good += 1,
                Frame::Message(m) => {
                    bad += 1;
                    reader.resync_after(m.as_bytes());
                }
                Frame::Malformed(_) => bad += 1,
                Frame::End => break,
            }
        }
        assert_eq!((good, bad), (5, 1));
    }

    #[test]
    fn a_length_longer_than_its_body_gives_back_the_frame_it_swallowed() {
        let short = r#"{"a":1}"#;
        let mut bytes = format!("Content-Length: {}\r\n\r\n{short}", short.len() + 30).into_bytes();
        for _ in 0..5 {
            bytes.extend(frame(GOOD));
        }
        let mut reader = FrameReader::new(io::BufReader::new(&bytes[..]));
        let mut good = 0;
        loop {
            match reader.read_frame().unwrap() {
                Frame::Message(m) if m == GOOD => good += 1,
                Frame::Message(m) => reader.resync_after(m.as_bytes()),
                Frame::Malformed(_) => {}
                Frame::End => break,
            }
        }
        assert_eq!(good, 5);
    }

    #[test]
    fn a_misspelt_length_header_costs_that_frame_only() {
        let input = format!("Content-Lenght: {}\r\n\r\n{GOOD}", GOOD.len());
        let got = frames(input.as_bytes());
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("without a Content-Length")),
            "{got:?}"
        );
        assert_eq!(good_ones_after(input.as_bytes()), 5);
    }

    #[test]
    fn two_lengths_are_refused() {
        let input = "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}".to_owned();
        let got = frames(input.as_bytes());
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("two Content-Length")),
            "{got:?}"
        );
        assert_eq!(good_ones_after(input.as_bytes()), 5);
    }

    #[test]
    fn a_huge_length_is_refused_without_waiting_for_its_bytes() {
        let input = format!("Content-Length: 1000000000000\r\n\r\n{GOOD}");
        let got = frames(input.as_bytes());
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("the limit is")),
            "{got:?}"
        );
        assert_eq!(good_ones_after(input.as_bytes()), 5);
    }

    #[test]
    fn bare_json_lines_get_a_message_that_says_how_to_frame() {
        let got = frames(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n");
        assert!(matches!(&got[0], Frame::Malformed(m) if m.contains("Content-Length: N")));
        // One report for a run of them, then the framed messages.
        let mut bytes = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n".to_vec();
        bytes.extend(frame(GOOD));
        let got = frames(&bytes);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1], Frame::Message(GOOD.into()));
    }

    #[test]
    fn a_frame_cut_off_ends_the_input() {
        assert_eq!(frames(b"Content-Length: 10\r\n\r\n{\"a\""), [Frame::End]);
        assert_eq!(frames(b"Content-Len"), [Frame::End]);
        assert_eq!(frames(b""), [Frame::End]);
    }

    #[test]
    fn an_endless_header_line_is_skipped_in_bounded_memory() {
        let mut input = vec![b'x'; MAX_HEADER_LINE * 3];
        input.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]");
        let got = frames(&input);
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("longer than")),
            "{got:?}"
        );
        assert_eq!(got[1], Frame::Message("{}".into()));
        assert_eq!(got[2], Frame::Message("[]".into()));
    }

    #[test]
    fn a_long_line_with_a_frame_at_its_end_loses_nothing_after_it() {
        // A body over the limit, written as one line, then a good frame right after it.
        let body = "x".repeat(MAX_HEADER_LINE * 4);
        let mut bytes = format!("Content-Length: {}\r\n\r\n{body}", MAX_MESSAGE + 1).into_bytes();
        for _ in 0..5 {
            bytes.extend(frame(GOOD));
        }
        let got = frames(&bytes);
        assert!(
            matches!(&got[0], Frame::Malformed(m) if m.contains("the limit")),
            "{got:?}"
        );
        assert_eq!(
            got.iter()
                .filter(|f| **f == Frame::Message(GOOD.into()))
                .count(),
            5
        );
    }

    /// A reader that counts how many bytes it was asked for, giving an endless header line.
    struct Endless(u64);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            let n = (buf.len() as u64).min(self.0) as usize;
            buf[..n].fill(b'a');
            self.0 -= n as u64;
            Ok(n)
        }
    }

    #[test]
    fn a_gigabyte_without_a_newline_is_read_in_bounded_memory() {
        // 256 MiB here (a gigabyte took 1 GB of memory before): the line is never kept whole.
        let mut reader = FrameReader::new(io::BufReader::new(Endless(256 * 1024 * 1024)));
        assert_eq!(reader.read_frame().unwrap(), Frame::End);
        let HeaderLine::End = reader.header_line().unwrap() else {
            panic!("the input is used up")
        };
    }
}
#[cfg(test)]
mod big_frames {
    use super::*;
    /// Hands out its bytes a few KiB at a time, as a pipe does.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(65536).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    #[test]
    fn big_frames_through_a_pipe() {
        let mut bytes = Vec::new();
        let big = format!("{{\"t\":\"{}\"}}", "x".repeat(6 * 1024 * 1024));
        write_frame(&mut bytes, &big).unwrap();
        write_frame(&mut bytes, "{\"a\":1}").unwrap();
        let mut reader =
            FrameReader::new(io::BufReader::new(io::BufReader::new(Trickle(bytes, 0))));
        assert!(matches!(reader.read_frame().unwrap(), Frame::Message(m) if m.len() == big.len()));
        assert_eq!(
            reader.read_frame().unwrap(),
            Frame::Message("{\"a\":1}".into())
        );
    }
}
