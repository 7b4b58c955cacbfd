//! Invoice documents: a view model rendered to HTML and PDF. (Being written.)
