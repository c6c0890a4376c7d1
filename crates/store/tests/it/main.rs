mod corrupt;
mod crash;
mod faults;
mod model;
mod projection;
mod props;
mod safety;
mod user_links;
