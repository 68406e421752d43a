//! The stream runner (being written).
