//! E-mail through the store's mail server (`[smtp]`), with `lettre`: a
//! plain-text part and an HTML one. No host configured: no mail (the
//! callers say so on their pages).

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mintmark_config::SmtpSection;

/// Text for a message's HTML part: what it holds comes from recorded data
/// (page paths, referrers, alert names), so it is escaped like every page.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp.from is not an address: {0}")]
    From(String),
    #[error("{0:?} is not an e-mail address")]
    To(String),
    #[error("the mail server {0}: {1}")]
    Server(String, String),
    #[error("building the message: {0}")]
    Message(String),
    #[error("no mail server is configured ([smtp] host)")]
    Off,
}

pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    host: String,
}

impl Mailer {
    pub fn new(s: &SmtpSection) -> Result<Mailer, MailError> {
        let from: Mailbox = s.from.parse().map_err(|_| MailError::From(s.from.clone()))?;
        if s.host.is_empty() {
            return Ok(Mailer { transport: None, from, host: String::new() });
        }
        let server = |e: lettre::transport::smtp::Error| MailError::Server(s.host.clone(), e.to_string());
        let builder = match s.security.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(server)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host).map_err(server)?,
        };
        let builder = builder.port(s.port).timeout(Some(std::time::Duration::from_secs(20)));
        let builder = if s.username.is_empty() { builder } else { builder.credentials(Credentials::new(s.username.clone(), s.password.clone())) };
        Ok(Mailer { transport: Some(builder.build()), from, host: s.host.clone() })
    }

    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Checks an address the way sending would.
    pub fn check_address(to: &str) -> Result<Mailbox, MailError> {
        to.trim().parse::<Mailbox>().map_err(|_| MailError::To(to.chars().take(80).collect()))
    }

    pub async fn send(&self, to: &str, subject: &str, text: String, html: String) -> Result<(), MailError> {
        let Some(transport) = &self.transport else { return Err(MailError::Off) };
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailer::check_address(to)?)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Message(e.to_string()))?;
        transport.send(message).await.map_err(|e| MailError::Server(self.host.clone(), e.to_string()))?;
        Ok(())
    }
}
