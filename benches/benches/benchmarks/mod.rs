pub mod dual;
