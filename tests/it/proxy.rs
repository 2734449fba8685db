//! A TCP proxy between `etl` and the S3 server that can misbehave on demand: refuse connections, or
//! reset each connection once it has carried N bytes towards the server (small requests get through,
//! large uploads are cut mid-body).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How the proxy treats new connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Accept, then close at once (as a server that is down behind a load balancer).
    Refuse,
    /// Cut a connection (both ways) once it has sent this many bytes upstream.
    CutAfter(u64),
    /// Accept and read, but never forward or answer (a hung server).
    Stall,
    /// Answer every request with `500 Internal Server Error`.
    Fail500,
}

pub struct Proxy {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
}

impl Proxy {
    /// A proxy in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let shared = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mode = *shared.lock().unwrap();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    if mode == Mode::Refuse {
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    if mode == Mode::Fail500 {
                        let mut client = client;
                        let mut head = Vec::new();
                        let mut byte = [0u8; 1];
                        while !head.ends_with(b"\r\n\r\n") && matches!(client.read(&mut byte), Ok(1)) {
                            head.push(byte[0]);
                        }
                        let _ = client.write_all(
                            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    if mode == Mode::Stall {
                        let mut sink = [0u8; 16 << 10];
                        let mut client = client;
                        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    }
                    let Ok(server) = TcpStream::connect(&upstream) else { return };
                    let limit = match mode {
                        Mode::CutAfter(n) => Some(n),
                        _ => None,
                    };
                    pipe(client, server, limit);
                });
            }
        });
        Proxy { url, mode }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Copies both ways; after `limit` bytes upstream, cuts both sides.
fn pipe(client: TcpStream, server: TcpStream, limit: Option<u64>) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_read, mut c_write) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Write);
    });
    let mut sent = 0u64;
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match c_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if limit.is_some_and(|l| sent + n as u64 > l) {
            for s in [&client, &server] {
                let _ = s.shutdown(Shutdown::Both);
            }
            break;
        }
        if s_write.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    let _ = s_write.shutdown(Shutdown::Write);
    let _ = down.join();
}
