// Package rows reads the delimited text files people upload: advertiser data files (package
// ingest), publisher profile files and taxonomies (pubsync), identity-bridge mappings (bridge)
// and the raw customer lists that prepare hashes on the advertiser's machine. Everything these
// files have in common is here, once:
//
//   - gzip is recognised by its magic bytes and decompressed on the fly; a UTF-8 byte order mark
//     at the start is dropped;
//   - the file is cut into blocks of whole lines ([Reader.Next]), numbered, so that parallel
//     parsers still report exact line numbers, or read line by line ([Reader.Line]) and record
//     by record ([Reader.Record]) by sequential ones;
//   - a line longer than the line limit is skipped (its Line carries the error), never held;
//     CRLF and LF line ends are both accepted;
//   - lines that are not UTF-8 are flagged when the format requires UTF-8;
//   - [Limits] bound the decompressed size and the number of lines of a file: a gzip bomb or a
//     file of billions of tiny rows stops with an error naming the limit and the server flag
//     that changes it ([FlagMaxBytes], [FlagMaxRows]);
//   - [Dialect] splits a line into fields: TSV, or CSV-style with quoted fields ("..." with ""
//     for a quote) and any one-byte separator;
//   - [Error] is a row error: a line number, a stable reason, a message and a hint, never the
//     row's contents; [Errors] counts them by reason and keeps the first ones by line.
//
// The package reads and splits; what the fields mean, and whether a bad row fails the file, is
// for the format's own package to say.
package rows
