//! Generic validation rules shared by every kind: names, labels, annotations.
