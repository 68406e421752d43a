//! smol integration (being written).
