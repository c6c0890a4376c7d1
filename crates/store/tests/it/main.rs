mod corrupt;
mod crash;
mod identity;
mod model;
mod projection;
mod props;
mod safety;
