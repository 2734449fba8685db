//! The small HTTP/1.1 server under the fake services (`fake_api`, `fake_domo`): a listener on a free
//! port of 127.0.0.1, one thread per connection and one request per connection. The request is parsed
//! into method, path, query string, lower-cased headers and a `Content-Length` body; the answer says
//! `Connection: close` and the socket is shut down after it. A handler that has to misbehave on the
//! wire (a body cut short) writes the response on the socket itself.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;

/// A request as read off the socket.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string as sent, without the `?` (empty when there is none).
    pub query: String,
    /// Header names in lower case; of a repeated header, the last one wins.
    pub headers: HashMap<String, String>,
    /// Exactly `Content-Length` bytes (none without that header).
    pub body: Vec<u8>,
}

impl Request {
    /// The query parameters, percent- and `+`-decoded, in order.
    pub fn params(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }
}

/// The head of a response: the status line and the header fields that follow the server's own
/// `Content-Length` and `Connection: close`, in order.
pub struct Head {
    pub status: u16,
    pub reason: &'static str,
    pub headers: Vec<(String, String)>,
}

/// Writes a response on the socket itself.
pub type RawWriter = Box<dyn FnOnce(&mut TcpStream) -> io::Result<()>>;

/// What a handler answers.
pub enum Reply {
    /// The server writes the head, with the body's length as `Content-Length`, then the body.
    Whole(Head, Vec<u8>),
    /// The handler writes the response on the socket itself, for instance with `write_head` and
    /// part of the body. The server then flushes the socket and shuts it down, as after `Whole`.
    Raw(RawWriter),
}

/// Starts a server on a free port of 127.0.0.1 and returns its URL (`http://127.0.0.1:<port>`).
/// `handler` gets each request and that URL; it runs on the connection's own thread.
pub fn start(handler: impl Fn(Request, &str) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handler = Arc::new(handler);
    let base = url.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (handler, base) = (handler.clone(), base.clone());
            std::thread::spawn(move || {
                let _ = serve(stream, handler.as_ref(), &base);
            });
        }
    });
    url
}

/// Writes the status line, `Content-Length: content_length`, `Connection: close`, the head's own
/// header fields and the blank line, in one write.
pub fn write_head(out: &mut impl Write, head: &Head, content_length: usize) -> io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {content_length}\r\nConnection: close\r\n",
        head.status, head.reason
    );
    for (k, v) in &head.headers {
        text += &format!("{k}: {v}\r\n");
    }
    text += "\r\n";
    out.write_all(text.as_bytes())
}

/// Serves the one request of a connection. A connection closed before its request line still
/// reaches the handler, as a request with an empty method and path.
fn serve(mut stream: TcpStream, handler: &impl Fn(Request, &str) -> Reply, base: &str) -> io::Result<()> {
    let request = read_request(&stream)?;
    match handler(request, base) {
        Reply::Whole(head, body) => {
            write_head(&mut stream, &head, body.len())?;
            stream.write_all(&body)?;
        }
        Reply::Raw(write) => write(&mut stream)?,
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

fn read_request(stream: &TcpStream) -> io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request { method, path: path.to_owned(), query: query.to_owned(), headers, body })
}

/// Decodes `+` and `%XX` escapes; a `%` not followed by two hex digits stays as it is.
fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
