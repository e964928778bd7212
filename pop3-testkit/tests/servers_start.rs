//! Every server of `pop3_testkit::servers` starts (in parallel, as when their tests run at once) and greets on
//! each of its ports; prints how long each took.

use std::thread;
use std::time::Instant;

use pop3_testkit::servers::{self, PopServer};

#[test]
fn every_server_starts_in_parallel() {
    let started = Instant::now();
    let starts: [fn() -> &'static dyn PopServer; 6] = [
        servers::mailutils,
        servers::cyrus,
        servers::courier,
        servers::popa3d,
        servers::solid_pop3d,
        servers::perdition,
    ];
    let handles: Vec<_> = starts.into_iter().map(thread::spawn).collect();
    for handle in handles {
        let server = handle
            .join()
            .expect("a server failed to start (see its panic above)");
        eprintln!(
            "{:<20} started in {:>6} ms",
            server.profile().name,
            server.startup_time().as_millis()
        );
    }
    eprintln!(
        "all servers started in {} ms",
        started.elapsed().as_millis()
    );
}

/// The README's table names the versions the profiles were written for: the installed ones must be those.
#[test]
fn installed_versions_are_the_profiled_ones() {
    for profile in servers::profiles() {
        let installed = servers::installed_version(profile.package).unwrap_or_else(|| {
            panic!(
                "{} ({}) is not installed: run `sh scripts/install-test-deps.sh` as root",
                profile.name, profile.package
            )
        });
        assert_eq!(
            installed, profile.version,
            "{}: Debian now ships {} {installed}; check the profile against it and update its version",
            profile.name, profile.package
        );
    }
}
