//! Importer.
