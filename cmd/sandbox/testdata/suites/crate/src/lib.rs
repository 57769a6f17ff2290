//! A fixture: a test suite that does what real ones do (writes files, uses
//! /tmp, starts processes, tries the network) and prints what it saw as
//! "FACT key=value" lines. cmd/sandbox's TestSuites runs it natively and
//! under `CARGO_TARGET_<TRIPLE>_RUNNER='sandbox exec --' cargo test` and
//! compares. It reads suite.conf (port=, tag=) from the crate's directory.

/// The value of key in suite.conf.
pub fn conf(key: &str) -> String {
    let text = std::fs::read_to_string("suite.conf").expect("reading suite.conf");
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(&format!("{}=", key)) {
            return v.to_string();
        }
    }
    panic!("suite.conf: no {}", key);
}

pub fn fact(key: &str, value: impl std::fmt::Display) {
    println!("FACT {}={}", key, value);
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_conf() {
        assert!(!super::conf("tag").is_empty());
    }
}
