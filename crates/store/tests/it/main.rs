mod corrupt;
mod crash;
mod faults;
mod identity;
mod model;
mod projection;
mod props;
mod safety;
