// Package ftpd is an embeddable FTP/FTPS server engine built for NAT and load
// balancers.
//
// The API follows net/http: configure a [Server], then call [Server.Serve],
// [Server.ListenAndServe] or [Server.ServeImplicitTLS]; stop it with
// [Server.Shutdown] (drains transfers) or [Server.Close]. Backends are small
// interfaces: [Authenticator] checks credentials and returns a [User],
// [FileSystemProvider] gives each user a [FileSystem] (by default an
// [os.Root] per user home, so neither "..", absolute paths nor symlinks can
// escape it), and TLS comes from a [crypto/tls.Config] (see [CertReloader]).
// Sessions reach files only through the [Storage] interface: the local
// backend ([FileSystemStorage]) serves a FileSystemProvider, and
// [Server.Storage] may name another one, such as object storage
// (package s3store).
//
// Passive data connections are served from a [PortRange] whose advertised
// ports may differ from the listened ones. Ports are chosen at random within
// the range; an unused reservation expires after the data timeout; when the
// range is full, PASV/EPSV waits first come, first served (at most the data
// timeout) before answering 425. The address announced in 227
// replies can be replaced at run time with [Server.SetPublicAddress]; it may be
// an IP or a DNS name (resolved and cached with a short TTL). While no address
// is known, EPSV still works and PASV answers with the local address only for
// clients from private ranges, otherwise with a 4xx reply.
//
// A data connection must come from the control connection's IP address. With
// PROT P it must also resume a TLS session ticket issued to its own FTP
// session (like vsftpd's require_ssl_reuse; [Server.TLSSessionReuseOptional]
// turns that off), so a connection that races for the passive port from the
// same address gets no data and supplies none: it is closed with 522.
//
// Uploads never expose half files. On the local backend data is written to a hidden temporary file
// in the target directory and renamed into place only after the transfer
// completed while the control connection was still alive. APPE and REST+STOR
// copy the existing prefix into that temporary file first (cost O(size)), then
// append, then rename — so a failed append leaves the previous file intact.
//
// In stream mode the end of a file is the end of the data connection, so a
// client killed mid-upload looks, on the data connection, like one that
// finished; only its control connection closing tells them apart, and that
// close may arrive a little later. On Linux a finished upload therefore waits,
// before the rename, for up to a quarter of its own transfer time (at most
// Server.UploadCloseGrace, 50 ms) for the control connection to close. This is
// a bound, not a proof: a client whose control connection's end arrives later
// than that is taken as finished.
//
// The package has no Kubernetes dependency.
package ftpd
