use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use suite::{conf, fact};

#[test]
fn hermetic_writes() {
    let tag = conf("tag");
    let tmp = std::env::temp_dir().join(format!("suite-{}-rust-tmpdir", tag));
    for p in [format!("written-by-rust-{}", tag), format!("/tmp/suite-{}-rust", tag), tmp.display().to_string()] {
        std::fs::File::create(&p).and_then(|mut f| f.write_all(b"x")).expect("writing");
    }
    fact("wrote", "ok");
}

#[test]
fn hermetic_process() {
    let out = std::process::Command::new("sh").args(["-c", "echo child"]).output().expect("running sh");
    fact("child", String::from_utf8_lossy(&out.stdout).trim());
    fact("pid", std::process::id());
}

#[test]
fn hermetic_network() {
    let addr = format!("127.0.0.1:{}", conf("port")).parse().unwrap();
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => fact("host-listener", "reached"),
        Err(_) => fact("host-listener", "refused"),
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("listening on loopback");
    TcpStream::connect(l.local_addr().unwrap()).expect("dialing loopback");
    fact("loopback", "ok");
}

#[test]
fn hermetic_env() {
    let mut keys: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    keys.sort();
    fact("env", keys.join(","));
}

#[test]
fn fails() {
    panic!("this test fails");
}

#[test]
fn exits() {
    std::process::exit(3);
}
