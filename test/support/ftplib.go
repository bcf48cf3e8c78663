package support

// FtplibResumingTLS is Python: a subclass of ftplib.FTP_TLS, ResumingFTP_TLS, that resumes the control
// connection's TLS session on PROT P data connections, as the engine requires by default
// (tls.requireSessionReuse); stock ftplib does not (cpython issue 63699). It is the class docs/security.md shows;
// a script that uses it imports ftplib first.
const FtplibResumingTLS = `
class ResumingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
`
