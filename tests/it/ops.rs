//! Running gatehouse for real: readiness notification to systemd (`ops::notify`).

mod notify;
