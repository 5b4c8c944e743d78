//! Is the custom model better than the base? Paired BERTScore statistics, bootstrap CI, permutation test, reports.
