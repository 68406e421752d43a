//! The low level of configuration: objects exactly as the XML wrote them, with spans.
//!
//! Nothing here is inherited or checked for references; see [`crate::resolve`].

use std::fmt;

use crate::props::{Props, Str};
use crate::span::{FileId, Span, Spanned};

/// Index of a raw object in [`RawConfig::objects`], stable for one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ObjId(pub u32);

impl ObjId {
    /// The origin of site-level values (`<bergamot>`'s own summary, parameters, zone).
    pub const SITE: ObjId = ObjId(u32::MAX);
}

/// The object types of the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    SecurityDomain,
    Team,
    Contact,
    TimePeriod,
    Location,
    Group,
    Command,
    Credential,
    Host,
    Service,
    Trap,
    Cluster,
    Resource,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::SecurityDomain,
        Kind::Team,
        Kind::Contact,
        Kind::TimePeriod,
        Kind::Location,
        Kind::Group,
        Kind::Command,
        Kind::Credential,
        Kind::Host,
        Kind::Service,
        Kind::Trap,
        Kind::Cluster,
        Kind::Resource,
    ];

    /// The XML element name, which is also the segment in object paths.
    pub fn element(self) -> &'static str {
        match self {
            Kind::SecurityDomain => "security-domain",
            Kind::Team => "team",
            Kind::Contact => "contact",
            Kind::TimePeriod => "time-period",
            Kind::Location => "location",
            Kind::Group => "group",
            Kind::Command => "command",
            Kind::Credential => "credential",
            Kind::Host => "host",
            Kind::Service => "service",
            Kind::Trap => "trap",
            Kind::Cluster => "cluster",
            Kind::Resource => "resource",
        }
    }

    pub fn from_element(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.element() == name)
    }

    /// Hosts, services, traps, clusters and resources: the things with a state.
    pub fn is_check(self) -> bool {
        matches!(self, Kind::Host | Kind::Service | Kind::Trap | Kind::Cluster | Kind::Resource)
    }

    /// Kinds that live inside another object when they are real checks.
    pub fn is_nested_kind(self) -> bool {
        matches!(self, Kind::Service | Kind::Trap | Kind::Resource)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.element())
    }
}

/// One object as written.
#[derive(Debug, Clone)]
pub struct RawObject {
    pub kind: Kind,
    /// Index of the site in [`RawConfig::sites`].
    pub site: u32,
    pub file: FileId,
    /// Position of the element's `<`.
    pub span: Span,
    pub name: Option<Spanned<Str>>,
    pub extends: Vec<Spanned<Str>>,
    /// `template="yes|no"` if written.
    pub template: Option<Spanned<bool>>,
    /// The host or cluster this service, trap or resource is nested in.
    pub container: Option<ObjId>,
    /// Nested services and traps (hosts) or resources (clusters), in file order.
    pub nested: Vec<ObjId>,
    /// The values the object itself sets.
    pub props: Props,
}

impl RawObject {
    pub fn name(&self) -> &str {
        self.name.as_ref().map(|n| &*n.value).unwrap_or("")
    }

    /// Whether it is a template: nested objects take template-ness from their
    /// container (decided in resolution), top-level services, traps and resources
    /// always are.
    pub fn written_template(&self) -> bool {
        self.template.as_ref().is_some_and(|t| t.value)
    }
}

/// One `<bergamot site="…">` root, merged over all the files that carry it.
#[derive(Debug, Clone, Default)]
pub struct RawSite {
    pub name: Str,
    /// Where the site was first declared.
    pub span: Span,
    pub files: Vec<FileId>,
    /// Site-level `<summary>`, `<description>`, `<parameter>`s and `<time-zone>`.
    pub props: Props,
    /// Top-level objects of this site, in load order (nested services, traps and
    /// resources are in their container's [`RawObject::nested`]).
    pub objects: Vec<ObjId>,
}

/// Everything one load read.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub sites: Vec<RawSite>,
    pub objects: Vec<RawObject>,
}

impl RawConfig {
    /// The object of an id from this load. Panics on [`ObjId::SITE`] or an id from
    /// another load: ids are only made by the loader, one per pushed object.
    pub fn object(&self, id: ObjId) -> &RawObject {
        &self.objects[id.0 as usize]
    }

    pub fn get(&self, id: ObjId) -> Option<&RawObject> {
        self.objects.get(id.0 as usize)
    }

    pub fn site_index(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| &*s.name == name)
    }

    /// `site/host/web1/service/load`.
    pub fn path(&self, id: ObjId) -> String {
        let Some(o) = self.get(id) else { return String::from("<site>") };
        let mut path = match o.container {
            Some(c) => self.path(c),
            None => self.sites.get(o.site as usize).map(|s| s.name.to_string()).unwrap_or_default(),
        };
        path.push('/');
        path.push_str(o.kind.element());
        path.push('/');
        path.push_str(o.name());
        path
    }
}
