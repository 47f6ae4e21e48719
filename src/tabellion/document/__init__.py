"""Documents: blob storage (local disk, S3), streaming uploads, type sniffing."""
